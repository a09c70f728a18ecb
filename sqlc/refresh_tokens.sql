-- name: CreateRefreshToken :exec
-- CreateRefreshToken stores a new refresh token (its hash) in a family.
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, session_expires_at)
VALUES (@id, @user_id, @family_id, @token_hash, @expires_at, @session_expires_at);

-- name: GetRefreshTokenForUpdate :one
-- GetRefreshTokenForUpdate finds a refresh token by hash and locks it, so two refreshes with
-- the same token are serialised: one rotates it, the other sees it rotated.
SELECT * FROM refresh_tokens WHERE token_hash = @token_hash FOR UPDATE;

-- name: MarkRefreshTokenRotated :exec
-- MarkRefreshTokenRotated uses the token up.
UPDATE refresh_tokens SET rotated_at = now() WHERE id = @id;

-- name: RevokeRefreshFamily :execrows
-- RevokeRefreshFamily ends a session: every token of the family stops working.
UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = @family_id AND revoked_at IS NULL;

-- name: RevokeOtherRefreshFamilies :execrows
-- RevokeOtherRefreshFamilies ends every session of the user but the one given.
UPDATE refresh_tokens SET revoked_at = now()
WHERE user_id = @user_id AND family_id <> @keep_family_id AND revoked_at IS NULL;

-- name: LockRefreshFamily :exec
-- LockRefreshFamily serialises rotation, reuse detection and logout of one session until
-- the end of the transaction (the family's tokens are separate rows, so a row lock on the
-- presented token alone lets a replay and a rotation of its successor interleave).
SELECT pg_advisory_xact_lock(hashtextextended(sqlc.arg(family_id)::uuid::text, 7261127002));

-- name: GetRefreshToken :one
-- GetRefreshToken finds a refresh token by hash (read again under the family lock).
SELECT * FROM refresh_tokens WHERE token_hash = @token_hash;

-- name: RevokeUserRefreshFamilies :execrows
-- RevokeUserRefreshFamilies ends every session of the user.
UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = @user_id AND revoked_at IS NULL;

-- name: SessionActive :one
-- SessionActive is what an access token's checks need: the account's role and state, and
-- whether its session (refresh-token family) is still live. No row: the account is gone.
SELECT u.role, (u.disabled_at IS NOT NULL)::boolean AS disabled,
       EXISTS (SELECT 1 FROM refresh_tokens rt
               WHERE rt.family_id = @family_id AND rt.user_id = u.id
                 AND rt.revoked_at IS NULL AND rt.session_expires_at > now()) AS live
FROM users u WHERE u.id = @user_id;

-- name: DeleteExpiredRefreshTokens :execrows
-- DeleteExpiredRefreshTokens removes tokens that can no longer be used, nor tell a reuse:
-- a day after they expire, were revoked, or their session ended.
DELETE FROM refresh_tokens
WHERE expires_at < now() - interval '1 day'
   OR revoked_at < now() - interval '1 day'
   OR session_expires_at < now() - interval '1 day';
