-- name: GetLoginAttempts :one
-- GetLoginAttempts is the email's failed logins since its last success; pgx.ErrNoRows for none.
SELECT * FROM login_attempts WHERE email = @email;

-- name: LoginFailed :one
-- LoginFailed counts a failed login for the email and answers the new count.
INSERT INTO login_attempts (email, failures, failed_at) VALUES (@email, 1, now())
ON CONFLICT (email) DO UPDATE SET failures = login_attempts.failures + 1, failed_at = now()
RETURNING failures;

-- name: ClearLoginAttempts :exec
-- ClearLoginAttempts ends the email's back-off (a successful login).
DELETE FROM login_attempts WHERE email = @email;

-- name: DeleteStaleLoginAttempts :execrows
-- DeleteStaleLoginAttempts forgets failures older than a day.
DELETE FROM login_attempts WHERE failed_at < now() - interval '1 day';
