-- name: CreateConversation :one
-- CreateConversation inserts a conversation of the user.
INSERT INTO conversations (id, user_id, title, title_set, system_prompt, model)
VALUES (@id, @user_id, @title, @title_set, @system_prompt, @model)
RETURNING *;

-- name: GetConversation :one
-- GetConversation returns the user's conversation, or pgx.ErrNoRows (also when it is
-- someone else's: callers answer 404 either way).
SELECT * FROM conversations WHERE id = @id AND user_id = @user_id;

-- name: ListConversations :many
-- ListConversations is one page of the user's conversations, newest activity first, after
-- the cursor position if given, optionally only titles containing the pattern.
SELECT * FROM conversations
WHERE user_id = @user_id
  AND (sqlc.narg(title_pattern)::text IS NULL OR title ILIKE sqlc.narg(title_pattern)::text ESCAPE '\')
  AND (sqlc.narg(after_at)::timestamptz IS NULL
       OR (last_message_at, id) < (sqlc.narg(after_at)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY last_message_at DESC, id DESC
LIMIT @page_size;

-- name: UpdateConversation :one
-- UpdateConversation changes the given fields; clear_* set a nullable field to NULL. The
-- caller checks that a current_message_id given is a message of the conversation.
UPDATE conversations
SET title         = coalesce(sqlc.narg(title), title),
    title_set     = title_set OR sqlc.narg(title)::text IS NOT NULL,
    system_prompt = CASE WHEN @clear_system_prompt::boolean THEN NULL ELSE coalesce(sqlc.narg(system_prompt), system_prompt) END,
    model         = CASE WHEN @clear_model::boolean THEN NULL ELSE coalesce(sqlc.narg(model), model) END,
    current_message_id = coalesce(sqlc.narg(current_message_id)::uuid, current_message_id),
    updated_at    = now()
WHERE id = @id AND user_id = @user_id
RETURNING *;

-- name: TouchConversation :exec
-- TouchConversation records activity, shows the branch ending at the new current message,
-- and names an untitled conversation.
UPDATE conversations
SET last_message_at = now(),
    current_message_id = @current_message_id,
    title     = CASE WHEN title_set THEN title ELSE @derived_title END,
    title_set = true
WHERE id = @id;

-- name: DeleteConversation :execrows
-- DeleteConversation deletes the user's conversation and its messages.
DELETE FROM conversations WHERE id = @id AND user_id = @user_id;
