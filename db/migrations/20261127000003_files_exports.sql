-- migrate:up
-- Uploaded files. The bytes live in UPLOAD_DIR under storage_key (made by the server); the
-- client's filename is metadata only.
CREATE TABLE files (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    sha256       text NOT NULL,
    storage_key  text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX files_user_id_id_idx ON files (user_id, id DESC);

-- The files a message carried (their ids stay when a file is deleted later).
ALTER TABLE messages ADD COLUMN file_ids uuid[] NOT NULL DEFAULT '{}';

-- Exported conversations, stored in PDF_DIR under storage_key.
CREATE TABLE exports (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id uuid REFERENCES conversations (id) ON DELETE SET NULL,
    format          text NOT NULL CHECK (format IN ('pdf', 'markdown', 'json')),
    filename        text NOT NULL,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    storage_key     text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX exports_user_id_id_idx ON exports (user_id, id DESC);

-- migrate:down
DROP TABLE exports;
ALTER TABLE messages DROP COLUMN file_ids;
DROP TABLE files;
