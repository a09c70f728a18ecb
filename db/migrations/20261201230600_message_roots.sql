-- migrate:up
-- The first messages of a conversation (no parent) are siblings: found by this index, as
-- the others are by messages_parent_id_idx.
CREATE INDEX messages_roots_idx ON messages (conversation_id, id) WHERE parent_id IS NULL;

-- migrate:down
DROP INDEX messages_roots_idx;
