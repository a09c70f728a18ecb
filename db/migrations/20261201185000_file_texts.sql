-- migrate:up
-- A file's text as the model reads it, extracted once (at upload, or on first use for files
-- uploaded before this table) and reused by every message the file is attached to. A
-- table of its own so that listing files never reads texts of up to 1 MiB each.
CREATE TABLE file_texts (
    file_id      uuid PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    -- The text, or NULL when the file cannot be read as text (error says why).
    text         text,
    -- When only part of the text was kept: what was kept, e.g. "the first 1048576 bytes of
    -- 5000000" (the model is told).
    truncated    text,
    error        text,
    extracted_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((text IS NULL) <> (error IS NULL))
);

-- migrate:down
DROP TABLE file_texts;
