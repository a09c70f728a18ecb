package middleware

import (
	"fmt"
	"log/slog"
	"net/http"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// MaxURIBytes is the longest request URI (path and query, as sent) the API accepts. The
// server reads request headers up to httpserver.MaxHeaderBytes, well above it, so a longer
// URI reaches this check and gets the envelope rather than net/http's plain-text 431.
const MaxURIBytes = 8 << 10

// URILimit answers 414 in the envelope when the request URI is longer than max bytes.
func URILimit(max int, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.RequestURI) > max {
				apierr.Write(w, r, log, apierr.New(http.StatusRequestURITooLong, api.ErrorBodyCodeUriTooLong,
					fmt.Sprintf("the request URI is longer than %d bytes", max)))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
