-- name: CreateMessage :one
-- CreateMessage inserts a message. A second running generation in the conversation
-- violates messages_one_generation_idx.
INSERT INTO messages (id, conversation_id, role, content, status, model, file_ids)
VALUES (@id, @conversation_id, @role, @content, @status, @model, @file_ids)
RETURNING *;

-- name: GetMessage :one
-- GetMessage returns a message of the user's conversation, or pgx.ErrNoRows.
SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.id = @id AND m.conversation_id = @conversation_id AND c.user_id = @user_id;

-- name: GetMessageByID :one
-- GetMessageByID reads a message without an ownership check (for the generation itself).
SELECT * FROM messages WHERE id = @id;

-- name: ListMessages :many
-- ListMessages is one page of a conversation's messages, oldest first, after the cursor id.
SELECT * FROM messages
WHERE conversation_id = @conversation_id AND (sqlc.narg(after_id)::uuid IS NULL OR id > sqlc.narg(after_id)::uuid)
ORDER BY id
LIMIT @page_size;

-- name: RecentMessages :many
-- RecentMessages is the conversation's history before a message, newest first, for the
-- model's context (the caller keeps what fits the budget).
SELECT role, content FROM messages
WHERE conversation_id = @conversation_id AND id < @before_id AND status IN ('complete', 'cancelled', 'failed') AND content <> ''
ORDER BY id DESC
LIMIT @max_messages;

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
