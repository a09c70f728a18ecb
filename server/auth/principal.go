// Package auth is authentication: password hashing, access tokens, opaque secrets, and the
// principal that an authenticated request carries.
package auth

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"assistant/server/apierr"
)

// Principal is who a request acts for.
type Principal struct {
	UserID uuid.UUID
	Role   string
	// SessionID is the refresh-token family of the access token; zero for API keys.
	SessionID uuid.UUID
	// APIKeyID is set when the request used an API key.
	APIKeyID uuid.UUID
}

// holder is placed in the context before validation; kin-openapi's authentication hook
// cannot return a context, so it fills the holder instead.
type holder struct{ p *Principal }

type holderKey struct{}

// WithHolder makes room in each request's context for the principal.
func WithHolder(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), holderKey{}, &holder{})))
	})
}

func setPrincipal(ctx context.Context, p *Principal) bool {
	h, ok := ctx.Value(holderKey{}).(*holder)
	if ok {
		h.p = p
	}
	return ok
}

// FromContext returns the request's principal. Operations whose spec requires bearerAuth
// always have one: the validator refuses the request otherwise.
func FromContext(ctx context.Context) (*Principal, bool) {
	h, ok := ctx.Value(holderKey{}).(*holder)
	if !ok || h.p == nil {
		return nil, false
	}
	return h.p, true
}

// Require returns the request's principal, or the 401 for an operation that needs one.
func Require(ctx context.Context) (*Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return nil, apierr.ErrUnauthorized
	}
	return p, nil
}
