package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"assistant/server/apierr"
	"assistant/server/logging"
	"assistant/server/middleware"
)

// A request whose client has gone is one INFO access line with 499 and nothing written;
// a server deadline or a cancellation by the server itself is still an error.
func TestClientGoneIs499(t *testing.T) {
	t.Parallel()
	var aborted bool
	serve := func(ctx context.Context, handler http.HandlerFunc) (*httptest.ResponseRecorder, []map[string]any) {
		aborted = false
		var logs bytes.Buffer
		log := logging.New(&logs, nil) // INFO
		h := middleware.RequestID(middleware.AccessLog(logging.NewAccess(&logs, nil))(middleware.Recover(log)(handler)))
		rec := httptest.NewRecorder()
		func() {
			// net/http closes the connection on http.ErrAbortHandler, sending nothing.
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					panic(p)
				} else if p != nil {
					aborted = true
				}
			}()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/conversations", nil).WithContext(ctx))
		}()
		return rec, lines(t, &logs)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	failWith := func(err func(*http.Request) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			apierr.Write(w, r, logging.Discard(), err(r))
		}
	}

	for name, h := range map[string]http.HandlerFunc{
		"an error": failWith(func(r *http.Request) error { return fmt.Errorf("insert: %w", r.Context().Err()) }),
		"a stream cut short": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("event: delta\n\n"))
			apierr.Write(w, r, logging.Discard(), r.Context().Err())
		},
		"no word at all": func(http.ResponseWriter, *http.Request) {},
	} {
		rec, ls := serve(gone, h)
		if len(ls) != 1 || ls[0]["msg"] != "request" || ls[0]["level"] != "INFO" || ls[0]["status"] != float64(apierr.StatusClientClosedRequest) {
			t.Errorf("%s: want one INFO access line with 499, got %v", name, ls)
		}
		if name != "a stream cut short" && (rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" || !aborted) {
			t.Errorf("%s: something was written (or net/http was left to send an empty 200): %v %q, aborted %v", name, rec.Header(), rec.Body, aborted)
		}
	}

	// The server's own cancellation (shutdown) and its deadlines are not the client's.
	cut, cancelCause := context.WithCancelCause(context.Background())
	cancelCause(errors.New("the server is shutting down"))
	for name, c := range map[string]struct {
		ctx    context.Context
		err    error
		status int
	}{
		"shutdown":        {cut, context.Canceled, http.StatusInternalServerError},
		"server deadline": {context.Background(), fmt.Errorf("export: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
	} {
		var logs bytes.Buffer
		log := logging.New(&logs, nil)
		h := middleware.AccessLog(logging.NewAccess(&logs, nil))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			apierr.Write(w, r, log, c.err)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(c.ctx))
		ls := lines(t, &logs)
		if rec.Code != c.status || len(ls) != 2 || ls[0]["level"] != "ERROR" || ls[1]["status"] != float64(c.status) {
			t.Errorf("%s: %d, log %v", name, rec.Code, ls)
		}
	}
}
