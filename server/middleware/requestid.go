// Package middleware holds the net/http middleware of the request pipeline, outermost
// first: request id, client address, access log with panic recovery, body limit.
package middleware

import (
	"net/http"

	"github.com/google/uuid"

	"assistant/server/logging"
)

// RequestID gives every request a new id, in the context (and so in every log line) and in
// the X-Request-ID response header. A client's X-Request-ID is ignored: an id the client
// chose could collide or smuggle text into the logs.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := uuid.NewString()
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}
