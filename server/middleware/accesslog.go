package middleware

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"

	"assistant/server/apierr"
	"assistant/server/logging"
)

// Recover turns a panic into a 500 envelope plus one error line with the stack (never a
// dropped connection, never the panic's text to the client). It sits just inside AccessLog,
// which then logs the 500. http.ErrAbortHandler is not a failure: it goes on up.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic", slog.String("panic", fmt.Sprint(p)),
					slog.String("stack", string(debug.Stack())))
				apierr.Write(w, r, log, apierr.ErrInternal)
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// AccessLog writes one JSON line per request once it is served (the logger adds request_id
// and, once authenticated, user_id from the context). A request aborted with
// http.ErrAbortHandler, or whose client left before anything was sent, is logged and its
// connection closed without a word. The path of a request to one of the secret routes (a
// route pattern whose path carries a secret, such as a share link's token) is logged as its
// pattern.
func AccessLog(access *logging.Access, secret ...string) func(http.Handler) http.Handler {
	hidden := make(map[string]bool, len(secret))
	for _, s := range secret {
		hidden[s] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw := &responseWriter{ResponseWriter: w}
			ctx := r.Context()
			defer func() {
				p := recover()
				abort := p == http.ErrAbortHandler
				if p != nil && !abort {
					panic(p) // not recovered by Recover (it sits inside): not ours to hide
				}
				route := "unmatched"
				if rc := chi.RouteContext(ctx); rc != nil && rc.RoutePattern() != "" {
					route = rc.RoutePattern()
				}
				status := finalStatus(rw, ctx)
				path := r.URL.Path
				if hidden[route] {
					path = route
				}
				access.Log(ctx, logging.Entry{Method: r.Method, Route: route, Path: path, Status: status,
					Duration: time.Since(start), Bytes: rw.bytes, ClientIP: ClientIP(ctx).String()})
				if abort || (status == apierr.StatusClientClosedRequest && !rw.wrote) {
					// Nothing was sent: net/http would send an empty 200, which a client
					// that only half-closed its side would read as success. Aborting
					// closes the connection without a word.
					panic(http.ErrAbortHandler)
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// responseWriter records the status and size. It implements Unwrap, so
// http.NewResponseController reaches Flush and the deadlines of the real writer.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool   // the header went out
	code   string // the error envelope's code, when one was sent
}

// Status is the status sent, or 0 while nothing has been sent; or 499
// (apierr.StatusClientClosedRequest) once the client has gone. It is the one status of the
// request: the access line's, and what a metric would count.
func (w *responseWriter) Status() int { return w.status }

// SetStatus records code without sending anything: apierr.Write calls it with 499 for a
// client that has gone, even in the middle of a response (a stream cut short).
func (w *responseWriter) SetStatus(code int) { w.status = code }

// SetErrorCode records the code of the error envelope apierr.Write sends (for the metrics).
func (w *responseWriter) SetErrorCode(code string) { w.code = code }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	if code >= 200 {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijacking is not supported")
	}
	return h.Hijack()
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
