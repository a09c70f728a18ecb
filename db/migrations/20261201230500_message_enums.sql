-- migrate:up
-- A message's role and status are enums: the database refuses any other value, and the
-- generated code has a constant for each (db.MessageRoleUser, db.MessageStatusComplete…).
CREATE TYPE message_role AS ENUM ('user', 'assistant');
CREATE TYPE message_status AS ENUM ('pending', 'streaming', 'complete', 'failed', 'cancelled');
-- The index and checks compare with text; they are rebuilt over the enums.
DROP INDEX messages_one_generation_idx;
ALTER TABLE messages DROP CONSTRAINT messages_role_check, DROP CONSTRAINT messages_status_check;
ALTER TABLE messages
    ALTER COLUMN role TYPE message_role USING role::message_role,
    ALTER COLUMN status TYPE message_status USING status::message_status;
-- One running generation per conversation.
CREATE UNIQUE INDEX messages_one_generation_idx ON messages (conversation_id) WHERE status IN ('pending', 'streaming');

-- migrate:down
DROP INDEX messages_one_generation_idx;
ALTER TABLE messages
    ALTER COLUMN role TYPE text USING role::text,
    ALTER COLUMN status TYPE text USING status::text;
ALTER TABLE messages
    ADD CONSTRAINT messages_role_check CHECK (role IN ('user', 'assistant')),
    ADD CONSTRAINT messages_status_check CHECK (status IN ('pending', 'streaming', 'complete', 'failed', 'cancelled'));
CREATE UNIQUE INDEX messages_one_generation_idx ON messages (conversation_id) WHERE status IN ('pending', 'streaming');
DROP TYPE message_status;
DROP TYPE message_role;
