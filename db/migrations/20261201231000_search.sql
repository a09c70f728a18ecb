-- migrate:up
-- Full-text search over messages and conversation titles (GET /search).
--
-- The text-search configuration is a setting (SEARCH_LANGUAGE), so the words are indexed by
-- an expression, to_tsvector(<configuration>, text), rather than a stored column: a stored
-- column is computed with one configuration fixed here, and a query in another
-- configuration (stemmed words, say) would not match it. The queries compute the same
-- expression with the configured name (a regconfig parameter, which PostgreSQL matches to
-- the index when it plans the query), so these indexes serve the default, 'simple' (words as
-- written, lower-cased: no language is mangled); a deployment with another
-- SEARCH_LANGUAGE adds the same two indexes for it (README), and until then searches
-- still work, by reading the user's own rows.
CREATE INDEX messages_search_simple_idx ON messages USING gin (to_tsvector('simple'::regconfig, content));
CREATE INDEX conversations_search_simple_idx ON conversations USING gin (to_tsvector('simple'::regconfig, title));

-- Chinese and Japanese have no spaces between words, so a word is not a token: a query with
-- such characters is matched as a substring (ILIKE), which these trigram indexes serve.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_content_trgm_idx ON messages USING gin (content gin_trgm_ops);
CREATE INDEX conversations_title_trgm_idx ON conversations USING gin (title gin_trgm_ops);

-- migrate:down
DROP INDEX conversations_title_trgm_idx;
DROP INDEX messages_content_trgm_idx;
DROP INDEX conversations_search_simple_idx;
DROP INDEX messages_search_simple_idx;
