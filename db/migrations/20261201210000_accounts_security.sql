-- migrate:up
ALTER TABLE users
    ADD COLUMN disabled_at timestamptz,
    -- The address (IPv6: its network) of the last successful login: the login back-off
    -- spares it, so strangers' failures cannot lock the owner out.
    ADD COLUMN last_login_net text;

-- Failed logins per email since the last success, for the back-off. Keyed by the email as
-- typed (normalised), known or not, so that the back-off does not tell accounts apart.
CREATE TABLE login_attempts (
    email     text PRIMARY KEY,
    failures  integer NOT NULL,
    failed_at timestamptz NOT NULL
);

-- A session (refresh-token family) ends at session_expires_at however often it is rotated.
ALTER TABLE refresh_tokens ADD COLUMN session_expires_at timestamptz;
UPDATE refresh_tokens SET session_expires_at = created_at + interval '90 days';
ALTER TABLE refresh_tokens ALTER COLUMN session_expires_at SET NOT NULL;
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE invites (
    id          uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    email       text,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invites_expires_at_idx ON invites (expires_at);

CREATE TABLE password_resets (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);

-- Tokens used per user, UTC day and model. Kept apart from messages so that deleting a
-- conversation does not give the budget back.
CREATE TABLE token_usage (
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day               date NOT NULL,
    model             text NOT NULL,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    replies           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day, model)
);

-- migrate:down
DROP TABLE token_usage;
DROP TABLE login_attempts;
DROP TABLE password_resets;
DROP TABLE invites;
DROP INDEX refresh_tokens_expires_at_idx;
ALTER TABLE refresh_tokens DROP COLUMN session_expires_at;
ALTER TABLE users
    DROP COLUMN last_login_net,
    DROP COLUMN disabled_at;
