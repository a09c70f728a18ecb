-- name: CreateMessage :one
-- CreateMessage inserts a message under its parent (null: a first message). A second
-- running generation in the conversation violates messages_one_generation_idx.
INSERT INTO messages (id, conversation_id, parent_id, role, content, status, model, file_ids)
VALUES (@id, @conversation_id, sqlc.narg(parent_id), @role, @content, @status, @model, @file_ids)
RETURNING *;

-- name: GetMessage :one
-- GetMessage returns a message of the user's conversation, or pgx.ErrNoRows.
SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.id = @id AND m.conversation_id = @conversation_id AND c.user_id = @user_id;

-- name: GetMessageByID :one
-- GetMessageByID reads a message without an ownership check (for the generation itself).
SELECT * FROM messages WHERE id = @id;

-- name: ListMessagePath :many
-- ListMessagePath is one page of the conversation's current path (root to
-- current_message_id: the messages marked on_path), oldest first, after the cursor id, each
-- with the ids of its siblings (the messages under the same parent, itself included, oldest
-- first). An index range, whatever the conversation's length.
SELECT sqlc.embed(m),
       ARRAY(SELECT s.id FROM messages s WHERE s.parent_id = m.parent_id
             UNION ALL
             SELECT r.id FROM messages r
             WHERE m.parent_id IS NULL AND r.parent_id IS NULL AND r.conversation_id = m.conversation_id
             ORDER BY 1)::uuid[] AS sibling_ids
FROM messages m
WHERE m.conversation_id = @conversation_id AND m.on_path
  AND (sqlc.narg(after_id)::uuid IS NULL OR m.id > sqlc.narg(after_id)::uuid)
ORDER BY m.id
LIMIT @page_size;

-- name: ListSiblingIds :many
-- ListSiblingIds is the ids of the messages under a parent (null: the first messages of the
-- conversation), oldest first.
SELECT s.id FROM messages s WHERE s.parent_id = sqlc.narg(parent_id)::uuid
UNION ALL
SELECT r.id FROM messages r
WHERE sqlc.narg(parent_id)::uuid IS NULL AND r.parent_id IS NULL AND r.conversation_id = @conversation_id::uuid
ORDER BY 1;

-- name: ContextMessages :many
-- ContextMessages is the path from the root to the tip message, newest first, with text,
-- for the model's context (the caller keeps what fits the budget).
WITH RECURSIVE path AS (
    SELECT m.id, m.parent_id, m.role, m.content, m.status, 1 AS depth
    FROM messages m WHERE m.id = @tip_id AND m.conversation_id = @conversation_id
    UNION ALL
    SELECT p.id, p.parent_id, p.role, p.content, p.status, path.depth + 1
    FROM messages p JOIN path ON p.id = path.parent_id
    WHERE path.depth < @max_messages::int
)
SELECT role, content FROM path
WHERE status IN ('complete', 'cancelled', 'failed') AND content <> ''
ORDER BY depth;

-- name: CountRunningGenerations :one
-- CountRunningGenerations counts the user's generations that are still running.
SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE c.user_id = @user_id AND m.status IN ('pending', 'streaming');

-- name: LockUserGenerations :exec
-- LockUserGenerations serialises starting generations for one user until the transaction ends.
SELECT pg_advisory_xact_lock(72611, hashtext(sqlc.arg(user_id)::text));

-- name: CheckpointMessage :one
-- CheckpointMessage saves the partial text of a running generation and reports whether a
-- cancel was requested.
UPDATE messages SET content = @content, status = 'streaming', updated_at = now()
WHERE id = @id AND status IN ('pending', 'streaming')
RETURNING cancel_requested_at;

-- name: FinishMessage :one
-- FinishMessage stores the final state of a generation.
UPDATE messages
SET content = @content, status = @status, finish_reason = @finish_reason, prompt_tokens = @prompt_tokens,
    completion_tokens = @completion_tokens, error_code = @error_code, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: RequestCancel :one
-- RequestCancel marks a running generation for cancellation (for the replica running it).
UPDATE messages SET cancel_requested_at = coalesce(cancel_requested_at, now())
WHERE id = @id AND status IN ('pending', 'streaming')
RETURNING *;

-- name: FailStaleGenerations :execrows
-- FailStaleGenerations fails generations whose process died: no checkpoint for too long.
UPDATE messages SET status = 'failed', error_code = 'interrupted', updated_at = now()
WHERE status IN ('pending', 'streaming') AND updated_at < now() - make_interval(secs => @stale_seconds::float8);
