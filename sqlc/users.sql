-- name: CreateUser :one
-- CreateUser inserts a user. The first user of an installation becomes admin; callers hold
-- the registration lock (LockRegistration) so two first sign-ups cannot both be admin.
INSERT INTO users (id, email, display_name, role, password_hash)
VALUES (
    @id, @email, @display_name,
    CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'user' ELSE 'admin' END,
    @password_hash
)
RETURNING *;

-- name: LockRegistration :exec
-- LockRegistration serialises registrations until the end of the transaction.
SELECT pg_advisory_xact_lock(7261127001);

-- name: GetUser :one
-- GetUser returns the user with the id, or pgx.ErrNoRows.
SELECT * FROM users WHERE id = @id;

-- name: GetUserByEmail :one
-- GetUserByEmail looks a user up by normalised email, or pgx.ErrNoRows.
SELECT * FROM users WHERE email = @email;

-- name: UpdateUser :one
-- UpdateUser changes the fields that are given (NULL keeps the current value).
UPDATE users
SET email        = coalesce(sqlc.narg(email), email),
    display_name = coalesce(sqlc.narg(display_name), display_name),
    updated_at   = now()
WHERE id = @id
RETURNING *;

-- name: UpdatePassword :exec
-- UpdatePassword replaces the user's password hash.
UPDATE users SET password_hash = @password_hash, updated_at = now() WHERE id = @id;

-- name: DeleteUser :execrows
-- DeleteUser deletes the user; their tokens, keys and content go with them (ON DELETE CASCADE).
DELETE FROM users WHERE id = @id;
