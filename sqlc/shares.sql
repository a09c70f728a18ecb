-- name: CreateShare :one
-- CreateShare snapshots the current branch of the user's conversation into a new share: the
-- path from the root to current_message_id (without one, the conversation's messages in
-- order), root first, settled messages with text only (complete or cancelled), each as its
-- role, content and time. No row when the conversation is not theirs.
WITH RECURSIVE conv AS (
    SELECT c.id, c.title, c.current_message_id
    FROM conversations c
    WHERE c.id = @conversation_id AND c.user_id = @user_id
), branch AS (
    SELECT m.id, m.parent_id, 0 AS depth
    FROM conv JOIN messages m ON m.id = conv.current_message_id AND m.conversation_id = conv.id
    UNION ALL
    SELECT p.id, p.parent_id, b.depth + 1
    FROM branch b JOIN messages p ON p.id = b.parent_id
) CYCLE id SET is_cycle USING visited, path AS (
    SELECT b.id, -b.depth::bigint AS ord FROM branch b WHERE NOT b.is_cycle
    UNION ALL
    SELECT m.id, row_number() OVER (ORDER BY m.id) AS ord
    FROM conv JOIN messages m ON m.conversation_id = conv.id
    WHERE conv.current_message_id IS NULL
), snapshot AS (
    SELECT coalesce(jsonb_agg(jsonb_build_object('role', m.role, 'content', m.content, 'created_at', m.created_at)
                              ORDER BY p.ord), '[]'::jsonb) AS messages,
           count(*)::integer AS message_count
    FROM path p JOIN messages m ON m.id = p.id
    WHERE m.status IN ('complete', 'cancelled') AND m.content <> ''
)
INSERT INTO shares (id, user_id, conversation_id, token_hash, title, messages, message_count, expires_at)
SELECT @id, @user_id, conv.id, @token_hash, conv.title, snapshot.messages, snapshot.message_count,
       now() + sqlc.narg(expires_in)::integer * interval '1 second'
FROM conv, snapshot
RETURNING id, conversation_id, created_at, expires_at, message_count;

-- name: ListShares :many
-- ListShares is one page of the user's shares still readable, newest first, after the
-- cursor id if given.
SELECT id, conversation_id, created_at, expires_at, message_count
FROM shares
WHERE user_id = @user_id AND (expires_at IS NULL OR expires_at > now())
  AND (sqlc.narg(after_id)::uuid IS NULL OR id < sqlc.narg(after_id)::uuid)
ORDER BY id DESC
LIMIT @page_size;

-- name: DeleteShare :execrows
-- DeleteShare revokes the user's share; 0 rows when it is not theirs.
DELETE FROM shares WHERE id = @id AND user_id = @user_id;

-- name: GetShareByTokenHash :one
-- GetShareByTokenHash is the readable share whose token has this hash, or pgx.ErrNoRows
-- (unknown, revoked or expired alike).
SELECT s.id, s.title, s.messages, s.created_at
FROM shares s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash AND (s.expires_at IS NULL OR s.expires_at > now())
  AND u.disabled_at IS NULL; -- a disabled account's links stop with its sessions and keys

-- name: DeleteExpiredShares :execrows
-- DeleteExpiredShares removes shares a day after they expired (they already read as 404).
DELETE FROM shares WHERE expires_at < now() - interval '1 day';

-- name: ShareSize :one
-- ShareSize is what a share of the conversation would hold: the messages of its current
-- path (all of them when it has no current message) and their text's bytes.
SELECT count(*)::int AS messages, coalesce(sum(octet_length(m.content)), 0)::bigint AS bytes
FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE c.id = @conversation_id AND c.user_id = @user_id
  AND (m.on_path OR c.current_message_id IS NULL);
