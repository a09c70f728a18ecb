-- name: LockUserStorage :exec
-- LockUserStorage serialises quota checks of one user until the transaction ends.
SELECT pg_advisory_xact_lock(72612, hashtext(sqlc.arg(user_id)::text));

-- name: StorageUsed :one
-- StorageUsed is what the user's files and exports take together (the storage quota).
SELECT ((SELECT coalesce(sum(f.size_bytes), 0) FROM files f WHERE f.user_id = sqlc.arg(user_id)::uuid)
      + (SELECT coalesce(sum(e.size_bytes), 0) FROM exports e WHERE e.user_id = sqlc.arg(user_id)::uuid))::bigint;

-- name: CreateFile :one
-- CreateFile records an uploaded file.
INSERT INTO files (id, user_id, filename, content_type, size_bytes, sha256, storage_key)
VALUES (@id, @user_id, @filename, @content_type, @size_bytes, @sha256, @storage_key)
RETURNING *;

-- name: GetFile :one
-- GetFile returns the user's file, or pgx.ErrNoRows.
SELECT * FROM files WHERE id = @id AND user_id = @user_id;

-- name: GetFiles :many
-- GetFiles returns those of the ids that are the user's files.
SELECT * FROM files WHERE user_id = @user_id AND id = ANY(@ids::uuid[]);

-- name: ListFiles :many
-- ListFiles is one page of the user's files, newest first.
SELECT * FROM files
WHERE user_id = @user_id AND (sqlc.narg(after_id)::uuid IS NULL OR id < sqlc.narg(after_id)::uuid)
ORDER BY id DESC
LIMIT @page_size;

-- name: DeleteFile :one
-- DeleteFile deletes the user's file and returns it (for removing its bytes).
DELETE FROM files WHERE id = @id AND user_id = @user_id RETURNING *;

-- name: FileStorageKeyExists :one
-- FileStorageKeyExists tells the orphan sweep whether bytes on disk still have a row.
SELECT EXISTS (SELECT 1 FROM files WHERE storage_key = @storage_key);

-- name: AllFileStorageKeys :many
-- AllFileStorageKeys lists every file's storage key (for the missing-bytes report).
SELECT id, storage_key FROM files;
