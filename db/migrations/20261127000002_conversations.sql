-- migrate:up
CREATE TABLE conversations (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           text NOT NULL DEFAULT '',
    -- title_set is true once a title was given; until then the first message names it.
    title_set       boolean NOT NULL DEFAULT false,
    system_prompt   text,
    model           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_message_at timestamptz NOT NULL DEFAULT now()
);
-- Newest activity first, keyset on (last_message_at, id).
CREATE INDEX conversations_user_activity_idx ON conversations (user_id, last_message_at DESC, id DESC);

CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    conversation_id     uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role                text NOT NULL CHECK (role IN ('user', 'assistant')),
    content             text NOT NULL DEFAULT '',
    status              text NOT NULL CHECK (status IN ('pending', 'streaming', 'complete', 'failed', 'cancelled')),
    model               text,
    finish_reason       text,
    prompt_tokens       integer,
    completion_tokens   integer,
    error_code          text,
    -- Set by a cancel request; the replica running the generation sees it at its next checkpoint.
    cancel_requested_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- A running generation touches updated_at at every checkpoint: a stale one belongs to a
    -- dead process and is failed with error_code 'interrupted'.
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- Oldest first, keyset on id (UUIDv7: creation order).
CREATE INDEX messages_conversation_id_idx ON messages (conversation_id, id);
-- One running generation per conversation.
CREATE UNIQUE INDEX messages_one_generation_idx ON messages (conversation_id) WHERE status IN ('pending', 'streaming');

-- migrate:down
DROP TABLE messages;
DROP TABLE conversations;
