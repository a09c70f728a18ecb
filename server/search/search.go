// Package search implements GET /search: full-text search over a user's own messages and
// conversation titles.
package search

import (
	"context"
	"errors"

	"assistant/gen/api"
)

// Index implements the search operation of the strict server (named so that its method
// can be Search, as the operation is).
type Index struct{}

// Search answers with a page of matches.
func (h *Index) Search(ctx context.Context, req api.SearchRequestObject) (api.SearchResponseObject, error) {
	return nil, errors.New("not implemented")
}
