-- name: GetLoginAttempts :one
-- GetLoginAttempts is the email's failed logins since its last success; pgx.ErrNoRows for none.
SELECT * FROM login_attempts WHERE email = @email;

-- name: ClearLoginAttempts :exec
-- ClearLoginAttempts ends the email's back-off (a successful login).
DELETE FROM login_attempts WHERE email = @email;

-- name: DeleteStaleLoginAttempts :execrows
-- DeleteStaleLoginAttempts forgets failures older than a day.
DELETE FROM login_attempts WHERE failed_at < now() - interval '1 day';

-- name: ReserveLoginAttempt :one
-- ReserveLoginAttempt counts an attempt on the email before its password is checked, unless
-- the email is in its back-off (pgx.ErrNoRows): free attempts first, then one per back-off
-- period (2^(failures-free) seconds, at most max_backoff_s). Concurrent attempts take turns
-- on the row, so a burst gets no more than one at a time. exempt (the owner's network)
-- always counts and passes. A success clears the row.
INSERT INTO login_attempts AS a (email, failures, failed_at) VALUES (@email, 1, now())
ON CONFLICT (email) DO UPDATE SET failures = a.failures + 1, failed_at = now()
WHERE @exempt::boolean OR a.failures < @free::int
   OR a.failed_at + least(make_interval(secs => @max_backoff_s::float8),
                          make_interval(secs => power(2, least(a.failures - @free::int, 30))::float8)) <= now()
RETURNING failures;
