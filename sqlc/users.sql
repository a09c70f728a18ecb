-- name: CreateUser :one
-- CreateUser inserts a user. With first_admin, the first user of an installation becomes
-- admin; callers hold the registration lock (LockRegistration) so two first sign-ups cannot
-- both be admin. With admin, the user is an admin anyway.
INSERT INTO users (id, email, display_name, role, password_hash)
VALUES (
    @id, @email, @display_name,
    CASE WHEN @admin::boolean OR (@first_admin::boolean AND NOT EXISTS (SELECT 1 FROM users)) THEN 'admin' ELSE 'user' END,
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

-- name: ListUsers :many
-- ListUsers is one page of every account, newest first, after the cursor id if given;
-- with q, those whose email or display name contains it (q is a LIKE pattern, escaped).
SELECT * FROM users
WHERE (sqlc.narg(after_id)::uuid IS NULL OR id < sqlc.narg(after_id)::uuid)
  AND (sqlc.narg(q)::text IS NULL OR email ILIKE sqlc.narg(q)::text OR display_name ILIKE sqlc.narg(q)::text)
ORDER BY id DESC
LIMIT @page_size;

-- name: AdminUpdateUser :one
-- AdminUpdateUser changes the role and/or the disabled state (NULL keeps the current value).
UPDATE users
SET role        = coalesce(sqlc.narg(role), role),
    disabled_at = CASE WHEN sqlc.narg(disabled)::boolean IS NULL THEN disabled_at
                       WHEN sqlc.narg(disabled)::boolean THEN coalesce(disabled_at, now())
                       ELSE NULL END,
    updated_at  = now()
WHERE id = @id
RETURNING *;

-- name: LoginSucceeded :exec
-- LoginSucceeded remembers the network the owner signs in from.
UPDATE users SET last_login_net = @net WHERE id = @id;

-- name: ResetLoginFailures :exec
-- ResetLoginFailures clears the login back-off of the user's email (a new password was set).
DELETE FROM login_attempts WHERE email = (SELECT email FROM users WHERE id = @id);

-- name: LockAdmins :exec
-- LockAdmins serialises changes to who is an enabled admin until the end of the transaction.
SELECT pg_advisory_xact_lock(7261127003);

-- name: CountActiveAdmins :one
-- CountActiveAdmins is the number of enabled admins.
SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL;

-- name: LockUserSessions :exec
-- LockUserSessions serialises, per user, what creates session tokens (refresh) with what
-- ends them all (password change or reset, disable) until the end of the transaction: a
-- refresh racing a revocation either finishes first, and its new token is revoked too, or
-- sees its token revoked.
SELECT pg_advisory_xact_lock(hashtextextended(sqlc.arg(user_id)::uuid::text, 7261127004));
