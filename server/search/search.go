// Package search implements GET /search: full-text search over a user's own messages and
// conversation titles.
//
// Words are found with PostgreSQL text search in the configured text-search configuration
// (SEARCH_LANGUAGE): websearch_to_tsquery reads the query ("a phrase", OR, -word, and never
// fails on syntax), ts_rank_cd ranks, ts_headline marks the matches between [[ and ]]. The
// migration indexes to_tsvector('simple', …) of messages and titles; another configuration
// needs the same indexes for it (README). A query with Chinese, Japanese or Korean letters,
// whose words are not separated by spaces, is matched as a substring instead (trigram
// indexes), and its snippet is the text around the first match with every match marked.
package search

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/pagination"
)

// Candidates is how many of the newest matches of each kind (titles, messages) a query
// ranks: the bound on a search's work however many of the user's messages match.
const Candidates = 2000

// Index implements the search operation of the strict server (named so that its method
// can be Search, as the operation is).
type Index struct {
	DB db.DBTX
	Q  *db.Queries
	// Language is the text-search configuration (config.SearchLanguage).
	Language string
	Log      *slog.Logger
}

// Check refuses a Language the database does not have, so that a misspelt SEARCH_LANGUAGE
// stops the start rather than failing every search. An unreachable database is not its
// concern (the server starts and reports it not ready): it is logged and skipped.
func (h *Index) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := h.Q.CheckSearchLanguage(ctx, h.DB, h.Language)
	switch {
	case err == nil:
		return nil
	case database.IsUnavailable(err):
		h.Log.Warn("SEARCH_LANGUAGE not checked: the database is unreachable", slog.String("search_language", h.Language), slog.Any("error", err))
		return nil
	}
	return fmt.Errorf("SEARCH_LANGUAGE=%s: the database has no such text-search configuration (psql's \\dF lists them): %w", h.Language, err)
}

// hit is a row of either query.
type hit struct {
	ConversationID    uuid.UUID
	ConversationTitle string
	MessageID         *uuid.UUID
	Role              *string
	ID                uuid.UUID
	CreatedAt         time.Time
	Rank              float64
	Snippet           string
}

// Search answers with a page of matches, best first; the cursor is the (rank, id) of the
// last one.
func (h *Index) Search(ctx context.Context, req api.SearchRequestObject) (api.SearchResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	q := req.Params.Q
	substring := needsSubstring(q)
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]hit, error) {
			var afterRank *float64
			var afterID *uuid.UUID
			if after != nil {
				afterRank, afterID = &after.Rank, &after.ID
			}
			if substring {
				return h.bySubstring(ctx, p.UserID, q, afterRank, afterID, n)
			}
			rows, err := h.Q.SearchText(ctx, h.DB, db.SearchTextParams{Language: h.Language, Query: limitNegations(q), UserID: p.UserID,
				Candidates: Candidates, AfterRank: afterRank, AfterID: afterID, PageSize: n})
			out := make([]hit, len(rows))
			for i, r := range rows {
				out[i] = hit(r)
			}
			return out, err
		},
		func(r hit) pagination.Position { return pagination.Position{Rank: r.Rank, ID: r.ID} }, toSearchHit)
	if err != nil {
		return nil, err
	}
	return api.Search200JSONResponse{Items: items, NextCursor: next}, nil
}

func (h *Index) bySubstring(ctx context.Context, user uuid.UUID, q string, afterRank *float64, afterID *uuid.UUID, n int32) ([]hit, error) {
	needle := strings.ToLower(strings.TrimSpace(q))
	rows, err := h.Q.SearchSubstring(ctx, h.DB, db.SearchSubstringParams{Needle: needle, UserID: user, Pattern: "%" + escapeLike(needle) + "%",
		Candidates: Candidates, AfterRank: afterRank, AfterID: afterID, PageSize: n})
	out := make([]hit, len(rows))
	for i, r := range rows {
		out[i] = hit{ConversationID: r.ConversationID, ConversationTitle: r.ConversationTitle, MessageID: r.MessageID, Role: r.Role,
			ID: r.ID, CreatedAt: r.CreatedAt, Rank: r.Rank, Snippet: mark(r.Excerpt, needle)}
	}
	return out, err
}

func toSearchHit(r hit) api.SearchHit {
	var role *api.SearchResultsItemsRole
	if r.Role != nil {
		v := api.SearchResultsItemsRole(*r.Role)
		role = &v
	}
	return api.SearchHit{ConversationId: r.ConversationID, ConversationTitle: r.ConversationTitle, MessageId: r.MessageID,
		Role: role, Snippet: r.Snippet, CreatedAt: r.CreatedAt}
}

// needsSubstring reports a query with letters of a script written without spaces between
// words (Han, Hiragana, Katakana; Hangul, whose spaced words carry particles), which text
// search would see as one long word.
func needsSubstring(q string) bool {
	for _, r := range q {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			return true
		}
	}
	return false
}

// maxNegations bounds the dashes of a text-search query: websearch_to_tsquery makes each
// "-" before a word a NOT, and PostgreSQL fails ("tsquery stack too small") on more than 32
// nested ones ("---…-a", "-!-!…a"); its other operators nest no deeper than their few
// precedence levels.
const maxNegations = 24

// limitNegations turns the dashes after the first maxNegations into spaces.
func limitNegations(q string) string {
	if strings.Count(q, "-") <= maxNegations {
		return q
	}
	n := 0
	return strings.Map(func(r rune) rune {
		if r == '-' {
			if n++; n > maxNegations {
				return ' '
			}
		}
		return r
	}, q)
}

// escapeLike makes s match itself literally in an ILIKE pattern (backslash is the escape).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// mark puts every case-insensitive occurrence of needle in text between [[ and ]], as
// ts_headline does for words.
func mark(text, needle string) string {
	if needle == "" || !utf8.ValidString(text) {
		return text
	}
	re, err := regexp.Compile(`(?i)` + regexp.QuoteMeta(needle))
	if err != nil {
		return text
	}
	return re.ReplaceAllString(text, "[[${0}]]")
}
