-- name: CreatePasswordReset :one
-- CreatePasswordReset stores a reset token (its hash) for the user.
INSERT INTO password_resets (id, user_id, token_hash, expires_at)
VALUES (@id, @user_id, @token_hash, @expires_at)
RETURNING *;

-- name: DeleteUserPasswordResets :execrows
-- DeleteUserPasswordResets voids every reset token of the user.
DELETE FROM password_resets WHERE user_id = @user_id;

-- name: UsePasswordReset :one
-- UsePasswordReset consumes a live reset token; pgx.ErrNoRows when there is none.
DELETE FROM password_resets WHERE token_hash = @token_hash AND expires_at > now()
RETURNING *;

-- name: DeleteExpiredPasswordResets :execrows
-- DeleteExpiredPasswordResets removes reset tokens that expired.
DELETE FROM password_resets WHERE expires_at < now();

-- name: PasswordResetUsable :one
-- PasswordResetUsable tells whether a live reset token exists, so that a wrong token is
-- refused before the new password is hashed (UsePasswordReset still decides).
SELECT EXISTS (SELECT 1 FROM password_resets WHERE token_hash = @token_hash AND expires_at > now());
