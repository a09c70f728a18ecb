-- name: CreateApiKey :one
-- CreateApiKey stores a new API key (the hash of its secret).
INSERT INTO api_keys (id, user_id, name, prefix, key_hash, expires_at)
VALUES (@id, @user_id, @name, @prefix, @key_hash, @expires_at)
RETURNING *;

-- name: ListApiKeys :many
-- ListApiKeys is one page of the user's keys, newest first, after the cursor id if given.
SELECT * FROM api_keys
WHERE user_id = @user_id AND (sqlc.narg(after_id)::uuid IS NULL OR id < sqlc.narg(after_id)::uuid)
ORDER BY id DESC
LIMIT @page_size;

-- name: DeleteApiKey :execrows
-- DeleteApiKey revokes the user's key; 0 rows when it is not theirs.
DELETE FROM api_keys WHERE id = @id AND user_id = @user_id;

-- name: GetApiKeyOwner :one
-- GetApiKeyOwner resolves a presented secret's hash to its key and owner.
SELECT k.id, k.user_id, k.expires_at, k.last_used_at, u.role, (u.disabled_at IS NOT NULL)::boolean AS disabled
FROM api_keys k JOIN users u ON u.id = k.user_id
WHERE k.key_hash = @key_hash;

-- name: DeleteUserApiKeys :execrows
-- DeleteUserApiKeys deletes every key of the user (a password reset).
DELETE FROM api_keys WHERE user_id = @user_id;

-- name: TouchApiKey :exec
-- TouchApiKey records use, at most once a minute per key (no write on every request).
UPDATE api_keys SET last_used_at = now()
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
