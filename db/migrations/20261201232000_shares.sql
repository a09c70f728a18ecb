-- migrate:up
-- A share is a read-only snapshot of a conversation's current branch, read by anyone with
-- its link. Only the hash of the link's token is stored. The snapshot holds what a reader
-- sees (each message's role, content and time: no ids, no emails, no files); deleting the
-- conversation or the account deletes its shares, so the link stops working.
CREATE TABLE shares (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL,
    title           text NOT NULL,
    messages        jsonb NOT NULL,
    message_count   integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
);
CREATE UNIQUE INDEX shares_token_hash_key ON shares (token_hash);
-- The owner's list, newest first (keyset on id: UUIDv7).
CREATE INDEX shares_user_id_id_idx ON shares (user_id, id);
CREATE INDEX shares_conversation_id_idx ON shares (conversation_id);

-- migrate:down
DROP TABLE shares;
