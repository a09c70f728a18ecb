-- name: CreateImportedConversation :exec
-- CreateImportedConversation inserts a conversation brought by an import, with the
-- timestamps it had where it came from.
INSERT INTO conversations (id, user_id, title, title_set, system_prompt, model, created_at, updated_at, last_message_at)
VALUES (@id, @user_id, @title, @title_set, @system_prompt, @model, @created_at, @updated_at, @last_message_at);

-- name: CreateImportedMessages :exec
-- CreateImportedMessages inserts an imported conversation's messages in one statement, each
-- parent before its children (the arrays are parallel; an empty parent or model is NULL).
INSERT INTO messages (id, conversation_id, parent_id, role, content, status, model, created_at, updated_at)
SELECT m.id, @conversation_id::uuid, NULLIF(m.parent_id, '')::uuid, m.role::message_role, m.content, 'complete',
       NULLIF(m.model, ''), m.created_at, m.created_at
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@parent_ids::text[]) AS parent_id, unnest(@roles::text[]) AS role,
             unnest(@contents::text[]) AS content, unnest(@models::text[]) AS model,
             unnest(@created_ats::timestamptz[]) AS created_at) AS m;

-- name: SetImportedCurrentMessage :exec
-- SetImportedCurrentMessage points an imported conversation at the tip of its branch shown.
UPDATE conversations SET current_message_id = @current_message_id WHERE id = @id;

-- name: DeleteImportedConversations :execrows
-- DeleteImportedConversations removes what an import stored before it failed as a whole.
DELETE FROM conversations WHERE user_id = @user_id AND id = ANY (@ids::uuid[]);
