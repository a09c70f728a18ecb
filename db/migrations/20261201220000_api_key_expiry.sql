-- migrate:up
-- Keys made before keys had to expire get the default lifetime from now, instead of never
-- expiring (a key made from a stolen session was the way to keep it).
UPDATE api_keys SET expires_at = now() + interval '90 days' WHERE expires_at IS NULL;

-- migrate:down
SELECT 1;
