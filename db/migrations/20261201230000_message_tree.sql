-- migrate:up
-- Messages form a tree: each follows its parent (null for the first), so an edited message
-- or a regenerated answer is a sibling branch. A conversation shows the path from the root
-- to its current message. Linear conversations become one branch.
ALTER TABLE messages ADD COLUMN parent_id uuid REFERENCES messages (id) ON DELETE CASCADE;
UPDATE messages m SET parent_id = (
    SELECT p.id FROM messages p
    WHERE p.conversation_id = m.conversation_id AND p.id < m.id
    ORDER BY p.id DESC LIMIT 1);
CREATE INDEX messages_parent_id_idx ON messages (parent_id, id);

ALTER TABLE conversations ADD COLUMN current_message_id uuid REFERENCES messages (id) ON DELETE SET NULL;
UPDATE conversations c SET current_message_id = (
    SELECT m.id FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1);

-- migrate:down
ALTER TABLE conversations DROP COLUMN current_message_id;
DROP INDEX messages_parent_id_idx;
ALTER TABLE messages DROP COLUMN parent_id;
