package apierr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"assistant/server/apierr"
)

// Only the request's own cancellation, without a cause, is a client that went away.
func TestClientGone(t *testing.T) {
	t.Parallel()
	live := context.Background()
	gone, cancel := context.WithCancel(live)
	cancel()
	cut, cancelCause := context.WithCancelCause(live)
	cancelCause(errors.New("the server is shutting down"))
	expired, cancelExpired := context.WithDeadline(live, time.Unix(1, 0))
	defer cancelExpired()
	inner, cancelInner := context.WithCancel(live) // a cancellation the server made for itself
	cancelInner()

	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"the client left during a query", gone, fmt.Errorf("create conversation: %w", context.Canceled), true},
		{"the client left before a query (pgx wraps it)", gone, pgxAlreadyDone(t, gone), true},
		{"the server cut the request off", cut, context.Canceled, false},
		{"a server deadline", expired, context.DeadlineExceeded, false},
		{"an inner cancellation on a live request", live, inner.Err(), false},
		{"a real failure while the client leaves", gone, errors.New("relation does not exist"), false},
		{"the statement timeout while the client leaves", gone, &pgconn.PgError{Code: "57014"}, false},
	} {
		if got := apierr.ClientGone(c.ctx, c.err); got != c.want {
			t.Errorf("%s: ClientGone = %v, want %v", c.name, got, c.want)
		}
	}
	if apierr.ClientClosed(live) || apierr.ClientClosed(cut) || apierr.ClientClosed(expired) || !apierr.ClientClosed(gone) {
		t.Error("ClientClosed")
	}
}

// pgxAlreadyDone is what pgx returns for a query on a context that is already done.
func pgxAlreadyDone(t *testing.T, ctx context.Context) error {
	t.Helper()
	_, err := pgconn.Connect(ctx, "postgres://127.0.0.1:1/none")
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("connect on a cancelled context: %v", err)
	}
	return err
}
