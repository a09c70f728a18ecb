package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/logging"
)

// Authenticator checks bearer credentials for kin-openapi's authentication hook: an access
// token (JWT) or an API key. It runs only for operations whose spec asks for bearerAuth.
type Authenticator struct {
	Tokens *Tokens
	DB     db.DBTX
	Q      *db.Queries
	Log    *slog.Logger
}

func unauthorized(msg string) *apierr.Error {
	e := *apierr.ErrUnauthorized
	e.Message = msg
	if msg != apierr.ErrUnauthorized.Message {
		e.Header = http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
	}
	return &e
}

// Authenticate is an openapi3filter.AuthenticationFunc.
func (a *Authenticator) Authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearerAuth" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	raw, ok := bearer(in.RequestValidationInput.Request)
	if !ok {
		return unauthorized(apierr.ErrUnauthorized.Message)
	}
	var p *Principal
	var err error
	if strings.HasPrefix(raw, APIKeyPrefix) {
		p, err = a.apiKey(ctx, raw)
	} else {
		p, err = a.accessToken(raw)
	}
	if err != nil {
		a.Log.InfoContext(ctx, "authentication failed", slog.String("reason", err.Error()))
		return err
	}
	if !setPrincipal(ctx, p) {
		return errors.New("no principal holder in the request context")
	}
	logging.SetUserID(ctx, p.UserID.String())
	return nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func (a *Authenticator) accessToken(raw string) (*Principal, error) {
	c, err := a.Tokens.Verify(raw)
	if err != nil {
		return nil, unauthorized("the access token is invalid or expired")
	}
	sid, _ := uuid.Parse(c.SessionID)
	return &Principal{UserID: uuid.MustParse(c.Subject), Role: c.Role, SessionID: sid}, nil
}

func (a *Authenticator) apiKey(ctx context.Context, raw string) (*Principal, error) {
	row, err := a.Q.GetAPIKeyOwner(ctx, a.DB, HashSecret(raw))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, unauthorized("the API key is invalid or expired")
	}
	if err != nil {
		e := *apierr.ErrUnavailable
		e.Cause = fmt.Errorf("look up api key: %w", err)
		return nil, &e
	}
	if row.ExpiresAt != nil && !row.ExpiresAt.After(time.Now()) {
		return nil, unauthorized("the API key is invalid or expired")
	}
	if row.LastUsedAt == nil || time.Since(*row.LastUsedAt) > time.Minute {
		if err := a.Q.TouchAPIKey(ctx, a.DB, row.ID); err != nil {
			a.Log.WarnContext(ctx, "record api key use", slog.Any("error", err))
		}
	}
	return &Principal{UserID: row.UserID, Role: row.Role, APIKeyID: row.ID}, nil
}
