package middleware

import (
	"log/slog"
	"net/http"

	"assistant/server/apierr"
)

// BodyLimit caps request bodies at limitFor(r) bytes (uploads get a larger limit). A
// declared Content-Length over the limit is refused at once; otherwise reading past the
// limit fails with *http.MaxBytesError, which the validator and the upload handler turn
// into the same 413.
func BodyLimit(limitFor func(*http.Request) int64, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			limit := limitFor(r)
			if r.ContentLength > limit {
				apierr.Write(w, r, log, apierr.TooLarge(limit))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}
