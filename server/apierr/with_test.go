package apierr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/logging"
)

// snapshot is a deep copy of e, to see that nothing changed it.
func snapshot(e *apierr.Error) apierr.Error {
	c := *e
	c.Header = e.Header.Clone()
	c.Details = append([]api.FieldError(nil), e.Details...)
	return c
}

// The With methods and Wrap return a new error with one thing changed, and leave the one
// they were called on, a sentinel most often, as it was.
func TestWithReturnsANewError(t *testing.T) {
	t.Parallel()
	cause := errors.New("the cause")
	detail := api.FieldError{Field: "body.file", Message: "must be at most 10 bytes"}
	for _, c := range []struct {
		name string
		from *apierr.Error
		with func(*apierr.Error) *apierr.Error
		want func(apierr.Error) apierr.Error // what is expected of a copy of from
	}{
		{"WithMessage", apierr.ErrUnauthorized,
			func(e *apierr.Error) *apierr.Error { return e.WithMessage("the account is disabled") },
			func(e apierr.Error) apierr.Error { e.Message = "the account is disabled"; return e }},
		{"WithDetails", apierr.TooLarge(10),
			func(e *apierr.Error) *apierr.Error { return e.WithDetails(detail) },
			func(e apierr.Error) apierr.Error { e.Details = []api.FieldError{detail}; return e }},
		{"WithDetails replaces", apierr.Validation(api.FieldError{Field: "a", Message: "b"}),
			func(e *apierr.Error) *apierr.Error { return e.WithDetails(detail) },
			func(e apierr.Error) apierr.Error { e.Details = []api.FieldError{detail}; return e }},
		{"WithRetryAfter", apierr.ErrUnavailable,
			func(e *apierr.Error) *apierr.Error { return e.WithRetryAfter(time.Minute) },
			func(e apierr.Error) apierr.Error { e.RetryAfter = time.Minute; return e }},
		{"WithHeader adds", apierr.ErrNotFound,
			func(e *apierr.Error) *apierr.Error { return e.WithHeader("allow", "GET, HEAD") },
			func(e apierr.Error) apierr.Error { e.Header = http.Header{"Allow": {"GET, HEAD"}}; return e }},
		{"WithHeader replaces", apierr.ErrUnauthorized,
			func(e *apierr.Error) *apierr.Error {
				return e.WithHeader("WWW-Authenticate", `Bearer error="invalid_token"`)
			},
			func(e apierr.Error) apierr.Error {
				e.Header = http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
				return e
			}},
		{"Wrap", apierr.ErrInternal,
			func(e *apierr.Error) *apierr.Error { return e.Wrap(cause) },
			func(e apierr.Error) apierr.Error { e.Cause = cause; return e }},
		{"chained", apierr.ErrUnavailable,
			func(e *apierr.Error) *apierr.Error { return e.WithMessage("the export took too long").Wrap(cause) },
			func(e apierr.Error) apierr.Error { e.Message = "the export took too long"; e.Cause = cause; return e }},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(c.from)
			got := c.with(c.from)
			if got == c.from {
				t.Fatal("returned the receiver itself")
			}
			opts := cmp.Comparer(func(a, b error) bool { return a == b })
			if d := cmp.Diff(before, snapshot(c.from), opts); d != "" {
				t.Errorf("the receiver changed (-before +after):\n%s", d)
			}
			if d := cmp.Diff(c.want(before), snapshot(got), opts); d != "" {
				t.Errorf("the new error (-want +got):\n%s", d)
			}
			if !errors.Is(got, c.from) {
				t.Error("the new error is not errors.Is its origin (same code)")
			}
		})
	}
}

// A header added to a copy of a sentinel is not seen on the sentinel: the map is copied.
func TestWithHeaderDoesNotShareTheMap(t *testing.T) {
	t.Parallel()
	e := apierr.ErrUnauthorized.WithHeader("Connection", "close")
	if got := apierr.ErrUnauthorized.Header; len(got) != 1 || got.Get("Www-Authenticate") != "Bearer" {
		t.Errorf("sentinel's header: %v", got)
	}
	if e.Header.Get("Www-Authenticate") != "Bearer" || e.Header.Get("Connection") != "close" {
		t.Errorf("copy's header: %v", e.Header)
	}
}

// From sorts the database's failures into the client's (422, 401), the service's (503)
// and everything else (500); an *Error anywhere in the chain is returned as it is.
func TestFrom(t *testing.T) {
	t.Parallel()
	typed := apierr.Conflict("taken")
	for _, c := range []struct {
		name   string
		err    error
		status int
		msg    string
		header http.Header
	}{
		{"typed", fmt.Errorf("create: %w", typed), http.StatusConflict, "taken", http.Header{}},
		{"unstorable text", &pgconn.PgError{Code: "22021"}, http.StatusUnprocessableEntity, "the request is not valid", http.Header{}},
		{"account gone", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23503", ConstraintName: "files_user_id_fkey"}),
			http.StatusUnauthorized, "the account no longer exists", http.Header{"Www-Authenticate": {"Bearer"}}},
		{"another foreign key", &pgconn.PgError{Code: "23503", ConstraintName: "messages_conversation_id_fkey"},
			http.StatusInternalServerError, "internal error", http.Header{}},
		{"pool closed", fmt.Errorf("acquire: %w", puddle.ErrClosedPool),
			http.StatusServiceUnavailable, "the service is temporarily unavailable", http.Header{"Retry-After": {"5"}}},
		{"database shutting down", &pgconn.PgError{Code: "57P01"},
			http.StatusServiceUnavailable, "the service is temporarily unavailable", http.Header{"Retry-After": {"5"}}},
		{"timeout", fmt.Errorf("query: %w", context.DeadlineExceeded),
			http.StatusServiceUnavailable, "the service is temporarily unavailable", http.Header{"Retry-After": {"5"}}},
		{"plain", errors.New("boom"), http.StatusInternalServerError, "internal error", http.Header{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := apierr.From(c.err)
			if c.name == "typed" && e != typed {
				t.Errorf("From returned %p, not the typed error %p", e, typed)
			}
			if e.Status != c.status || e.Message != c.msg {
				t.Errorf("From = %d %q, want %d %q", e.Status, e.Message, c.status, c.msg)
			}
			if c.status != http.StatusConflict && !errors.Is(e, c.err) {
				t.Error("the cause is not kept")
			}
			rec := httptest.NewRecorder()
			apierr.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), logging.New(io.Discard, nil), c.err)
			got := rec.Header().Clone()
			got.Del("Content-Type")
			got.Del("Cache-Control")
			if d := cmp.Diff(c.header, got); d != "" || rec.Code != c.status {
				t.Errorf("Write: %d (-want +got headers):\n%s", rec.Code, d)
			}
		})
	}
	if apierr.ErrUnauthorized.Message != "authentication required" || apierr.ErrUnauthorized.Cause != nil {
		t.Errorf("From changed the sentinel: %+v", apierr.ErrUnauthorized)
	}
}
