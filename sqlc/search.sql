-- GET /search. Both queries find the user's own conversation titles and messages, rank them
-- (the best first, then the newest id), and page by keyset on (rank, id) after the cursor
-- (after_rank null: the first page). The titles come first in the UNION so that sqlc types
-- message_id and role as nullable (null: the match is the title).
--
-- Ranking needs every match's text, so a query is bounded: only the newest @candidates
-- matches (by id) of each kind are ranked. A word in more of the user's messages than that
-- ranks the newest of them; the cost of a page stays flat however many messages match.
-- For a phrase the candidates are the newest rows with all its words (what the GIN index
-- answers exactly; checking word positions would compute every such row's tsvector), and
-- the phrase is then checked on those.

-- name: SearchText :many
-- SearchText is a page of full-text matches of a websearch_to_tsquery query in the
-- text-search configuration @language (the GIN expression indexes of the same
-- configuration serve it), each with a ts_headline snippet whose matches are between [[ and ]].
WITH query AS (
    -- loose is q with its phrase operators (<->, <N>) made AND: a superset of q's matches,
    -- unless q negates something (a negated phrase made AND would exclude more than q
    -- does), when it is q itself.
    SELECT w.q, CASE WHEN strpos(w.q::text, '!') > 0 THEN w.q
                     ELSE regexp_replace(w.q::text, '<[0-9]*->|<[0-9]+>', '&', 'g')::tsquery END AS loose
    FROM (SELECT websearch_to_tsquery(sqlc.arg(language)::regconfig, sqlc.arg(query)::text) AS q) w
),
title_hits AS (
    SELECT c.id AS conversation_id, NULL::uuid AS message_id, NULL::text AS role, c.id, c.title AS body, c.created_at
    FROM conversations c, query
    WHERE c.user_id = @user_id AND to_tsvector(sqlc.arg(language)::regconfig, c.title) @@ query.loose
    ORDER BY c.id DESC
    LIMIT @candidates
),
message_hits AS (
    SELECT m.conversation_id, m.id AS message_id, m.role::text AS role, m.id, m.content AS body, m.created_at
    FROM messages m JOIN conversations c ON c.id = m.conversation_id, query
    WHERE c.user_id = @user_id AND to_tsvector(sqlc.arg(language)::regconfig, m.content) @@ query.loose
    ORDER BY m.id DESC
    LIMIT @candidates
),
-- Each candidate's tsvector, computed once (MATERIALIZED: not inlined into each use).
vectors AS MATERIALIZED (
    SELECT u.*, to_tsvector(sqlc.arg(language)::regconfig, u.body) AS v
    FROM (SELECT * FROM title_hits UNION ALL SELECT * FROM message_hits) u
),
hits AS (
    SELECT h.conversation_id, h.message_id, h.role, h.id, h.body, h.created_at, ts_rank_cd(h.v, query.q)::float8 AS rank
    FROM vectors h, query
    WHERE h.v @@ query.q
),
page AS (
    SELECT * FROM hits
    WHERE sqlc.narg(after_rank)::float8 IS NULL OR (hits.rank, hits.id) < (sqlc.narg(after_rank)::float8, sqlc.narg(after_id)::uuid)
    ORDER BY hits.rank DESC, hits.id DESC
    LIMIT @page_size
)
SELECT page.conversation_id, c.title AS conversation_title, page.message_id, page.role, page.id, page.created_at, page.rank,
       ts_headline(sqlc.arg(language)::regconfig, page.body, query.q,
                   'StartSel=[[, StopSel=]], MaxFragments=2, MaxWords=30, MinWords=10, FragmentDelimiter=" … "')::text AS snippet
FROM page JOIN conversations c ON c.id = page.conversation_id, query
ORDER BY page.rank DESC, page.id DESC;

-- name: SearchSubstring :many
-- SearchSubstring is a page of the titles and messages that contain @pattern (an ILIKE
-- pattern, its wildcards escaped by the caller), served by the trigram indexes: for
-- Chinese and Japanese, whose words are not separated by spaces. The rank is how often
-- @needle (the lower-cased text) occurs; excerpt is the text around the first occurrence.
WITH title_hits AS (
    SELECT c.id AS conversation_id, NULL::uuid AS message_id, NULL::text AS role, c.id, c.title AS body, c.created_at
    FROM conversations c
    WHERE c.user_id = @user_id AND c.title ILIKE sqlc.arg(pattern)::text
    ORDER BY c.id DESC
    LIMIT @candidates
),
message_hits AS (
    SELECT m.conversation_id, m.id AS message_id, m.role::text AS role, m.id, m.content AS body, m.created_at
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.user_id = @user_id AND m.content ILIKE sqlc.arg(pattern)::text
    ORDER BY m.id DESC
    LIMIT @candidates
),
hits AS (
    SELECT h.*, ((length(h.body) - length(replace(lower(h.body), sqlc.arg(needle)::text, ''))) / length(sqlc.arg(needle)::text))::float8 AS rank
    FROM (SELECT * FROM title_hits UNION ALL SELECT * FROM message_hits) h
),
page AS (
    SELECT * FROM hits
    WHERE sqlc.narg(after_rank)::float8 IS NULL OR (hits.rank, hits.id) < (sqlc.narg(after_rank)::float8, sqlc.narg(after_id)::uuid)
    ORDER BY hits.rank DESC, hits.id DESC
    LIMIT @page_size
)
SELECT page.conversation_id, c.title AS conversation_title, page.message_id, page.role, page.id, page.created_at, page.rank,
       substr(page.body, greatest(strpos(lower(page.body), sqlc.arg(needle)::text) - 60, 1), 120 + length(sqlc.arg(needle)::text))::text AS excerpt
FROM page JOIN conversations c ON c.id = page.conversation_id
ORDER BY page.rank DESC, page.id DESC;

-- name: CheckSearchLanguage :exec
-- CheckSearchLanguage fails (undefined_object) when the database has no text-search
-- configuration of that name.
SELECT sqlc.arg(language)::text::regconfig;
