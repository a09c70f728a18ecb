-- migrate:up
-- The messages on a conversation's current path (root to current_message_id) carry
-- on_path, so listing a page of the path is an index range, whatever the conversation's
-- length: walking the tree from the tip on every page would cost the whole depth.
ALTER TABLE messages ADD COLUMN on_path boolean NOT NULL DEFAULT false;
CREATE INDEX messages_on_path_idx ON messages (conversation_id, id) WHERE on_path;

-- When current_message_id moves, walk up from the new tip to the first message already on
-- the path (the fork), marking the way, and unmark what the old path had below the fork. A
-- path is a chain whose ids grow from the root (UUIDv7, a child made after its parent), so
-- "below the fork" is "on the path with a greater id". The cost is the part of the path that
-- changed: two messages for a send.
CREATE FUNCTION conversations_current_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.current_message_id IS NOT DISTINCT FROM OLD.current_message_id THEN
        RETURN NEW;
    END IF;
    IF NEW.current_message_id IS NULL THEN
        UPDATE messages SET on_path = false WHERE conversation_id = NEW.id AND on_path;
        RETURN NEW;
    END IF;
    -- Two updates of disjoint rows in one statement: the old path below the fork goes off,
    -- the walked part of the new one comes on.
    WITH RECURSIVE up AS (
        SELECT m.id, m.parent_id, m.on_path FROM messages m
        WHERE m.id = NEW.current_message_id AND m.conversation_id = NEW.id
        UNION ALL
        SELECT p.id, p.parent_id, p.on_path FROM messages p JOIN up ON p.id = up.parent_id
        WHERE NOT up.on_path
    ),
    off AS (
        UPDATE messages SET on_path = false
        WHERE conversation_id = NEW.id AND on_path
          AND id > coalesce((SELECT id FROM up WHERE on_path LIMIT 1), '00000000-0000-0000-0000-000000000000'::uuid)
        RETURNING id
    )
    UPDATE messages SET on_path = true WHERE id IN (SELECT id FROM up WHERE NOT on_path);
    RETURN NEW;
END
$$;

CREATE TRIGGER conversations_current_path AFTER INSERT OR UPDATE OF current_message_id ON conversations
FOR EACH ROW EXECUTE FUNCTION conversations_current_path();

-- Existing conversations: the path to their current message.
UPDATE messages m SET on_path = true
FROM (
    WITH RECURSIVE up AS (
        SELECT m.id, m.parent_id FROM conversations c JOIN messages m ON m.id = c.current_message_id
        UNION ALL
        SELECT p.id, p.parent_id FROM messages p JOIN up ON p.id = up.parent_id
    )
    SELECT id FROM up
) path
WHERE m.id = path.id;

-- migrate:down
DROP TRIGGER conversations_current_path ON conversations;
DROP FUNCTION conversations_current_path();
DROP INDEX messages_on_path_idx;
ALTER TABLE messages DROP COLUMN on_path;
