-- name: CreateRefreshToken :exec
-- CreateRefreshToken stores a new refresh token (its hash) in a family.
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
VALUES (@id, @user_id, @family_id, @token_hash, @expires_at);

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

-- name: DeleteExpiredRefreshTokens :execrows
-- DeleteExpiredRefreshTokens removes tokens that can no longer be used or reused.
DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day';
