-- name: CreateExport :one
-- CreateExport records an export whose file is stored.
INSERT INTO exports (id, user_id, conversation_id, format, filename, content_type, size_bytes, sha256, storage_key)
VALUES (@id, @user_id, @conversation_id, @format, @filename, @content_type, @size_bytes, @sha256, @storage_key)
RETURNING *;

-- name: GetExport :one
-- GetExport returns the user's export, or pgx.ErrNoRows.
SELECT * FROM exports WHERE id = @id AND user_id = @user_id;

-- name: ListExports :many
-- ListExports is one page of the user's exports, newest first.
SELECT * FROM exports
WHERE user_id = @user_id AND (sqlc.narg(after_id)::uuid IS NULL OR id < sqlc.narg(after_id)::uuid)
ORDER BY id DESC
LIMIT @page_size;

-- name: DeleteExport :one
-- DeleteExport deletes the user's export and returns it (for removing its file).
DELETE FROM exports WHERE id = @id AND user_id = @user_id RETURNING *;

-- name: ExportStorageKeyExists :one
-- ExportStorageKeyExists tells the orphan sweep whether a file on disk still has a row.
SELECT EXISTS (SELECT 1 FROM exports WHERE storage_key = @storage_key);

-- name: MessagesForExport :many
-- MessagesForExport is every message of a conversation, oldest first, up to a limit
-- (the caller asks for one more than it accepts, to detect a conversation too large).
SELECT * FROM messages WHERE conversation_id = @conversation_id ORDER BY id LIMIT @max_messages;
