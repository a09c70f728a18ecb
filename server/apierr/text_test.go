package apierr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/testutil/pgtest"
)

// Text PostgreSQL refuses is the client's fault: a 422, never a 500. The validator stops
// it first; this is the safety net, tested with PostgreSQL's own errors.
func TestUnstorableTextIs422(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	for _, c := range []struct {
		sql  string
		code string
	}{
		{"SELECT $1::text", "22021"},
		{`SELECT '{"a":"\u0000"}'::jsonb`, "22P05"},
	} {
		var args []any
		if c.code == "22021" {
			args = append(args, "a\x00b")
		}
		_, err := pool.Exec(ctx, c.sql, args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != c.code {
			t.Fatalf("%s: %v, want SQLSTATE %s", c.sql, err, c.code)
		}
		e := apierr.From(fmt.Errorf("insert: %w", err))
		if e.Status != http.StatusUnprocessableEntity || e.Code != api.ErrorBodyCodeValidationError || len(e.Details) != 1 {
			t.Errorf("SQLSTATE %s: %d %s %v", c.code, e.Status, e.Code, e.Details)
		}
	}
}
