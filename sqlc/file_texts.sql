-- name: GetFilesWithText :many
-- GetFilesWithText returns those of the ids that are the user's files, with their text
-- when it has been extracted (extracted is false for files not read yet).
SELECT f.id, f.filename, f.content_type, f.size_bytes, f.storage_key,
       t.text, t.truncated, t.error, (t.file_id IS NOT NULL)::boolean AS extracted
FROM files f LEFT JOIN file_texts t ON t.file_id = f.id
WHERE f.user_id = @user_id AND f.id = ANY(@ids::uuid[]);

-- name: SaveFileText :exec
-- SaveFileText stores a file's text once; a second extraction (another replica) keeps the
-- first, and a file deleted meanwhile stores nothing.
INSERT INTO file_texts (file_id, text, truncated, error)
SELECT f.id, sqlc.narg(text), sqlc.narg(truncated), sqlc.narg(error) FROM files f WHERE f.id = @file_id
ON CONFLICT (file_id) DO NOTHING;
