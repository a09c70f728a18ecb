// Package pagination encodes the opaque cursors of keyset-paginated lists and clamps page
// sizes. A cursor is the position of the last item of a page; clients must not parse it.
package pagination

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// DefaultLimit and MaxLimit match the spec's limit parameter.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Limit is the requested page size, or the default.
func Limit(limit *int) int {
	if limit == nil || *limit < 1 {
		return DefaultLimit
	}
	return min(*limit, MaxLimit)
}

// Position is where a page ended: the sort key of its last item (a time, or a search
// rank) and its id.
type Position struct {
	At   time.Time `json:"t,omitzero"`
	Rank float64   `json:"r,omitzero"`
	ID   uuid.UUID `json:"i"`
}

// Encode returns the opaque cursor for a position.
func Encode(p Position) string {
	// In UTC: RFC 3339 keeps an offset only to the minute, so a time in a zone whose offset
	// has seconds (local mean time, as pgx gives old timestamps in time.Local) would come
	// back as another instant.
	p.At = p.At.UTC()
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode parses a cursor from the query. A nil cursor is the first page (nil position);
// one that was not made by Encode is a 422 on query.cursor.
func Decode(cursor *string) (*Position, error) {
	if cursor == nil {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*cursor)
	var p Position
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.ID == uuid.Nil {
		return nil, apierr.Validation(api.FieldError{Field: "query.cursor", Message: "is not a cursor from this list"})
	}
	return &p, nil
}

// Next is the next_cursor for a page fetched with one extra row: when there are more rows
// than limit, the page is cut to limit and the cursor points after its last item.
func Next[T any](rows []T, limit int, pos func(T) Position) ([]T, *string) {
	if len(rows) <= limit {
		return rows, nil
	}
	rows = rows[:limit]
	c := Encode(pos(rows[len(rows)-1]))
	return rows, &c
}

// List is one page of a keyset-paginated list: it decodes the cursor, fetches limit+1 rows
// after its position (nil: from the start), cuts the page and converts the rows. fetch
// gets the page size to ask for.
func List[T, R any](cursor *string, limit *int, fetch func(after *Position, n int32) ([]T, error),
	pos func(T) Position, convert func(T) R) ([]R, *string, error) {
	after, err := Decode(cursor)
	if err != nil {
		return nil, nil, err
	}
	n := Limit(limit)
	rows, err := fetch(after, int32(n+1))
	if err != nil {
		return nil, nil, err
	}
	rows, next := Next(rows, n, pos)
	out := make([]R, 0, len(rows))
	for _, r := range rows {
		out = append(out, convert(r))
	}
	return out, next, nil
}
