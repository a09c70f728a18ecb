package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/database"
	"assistant/server/logging"
	"assistant/server/secevent"
)

// Authenticator checks bearer credentials for kin-openapi's authentication hook: an access
// token (JWT) or an API key. It runs only for operations whose spec asks for bearerAuth, and
// enforces the operation's x-credentials and x-role.
type Authenticator struct {
	Tokens *Tokens
	DB     database.DB
	Q      *db.Queries
	Log    *slog.Logger
	// Sessions remembers, for at most its freshness, whether an access token's account and
	// session are still good; nil checks the database on every request.
	Sessions *SessionCache
}

// unauthorized is the 401 saying msg; any message but the plain one says the credential
// itself was refused (RFC 6750's invalid_token).
func unauthorized(msg string) *apierr.Error {
	if msg == apierr.ErrUnauthorized.Message {
		return apierr.ErrUnauthorized
	}
	return apierr.ErrUnauthorized.WithMessage(msg).WithHeader("Www-Authenticate", `Bearer error="invalid_token"`)
}

var (
	errSessionOnly = apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden,
		"API keys cannot manage credentials or the account; sign in with your password")
	errAdminOnly = apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden, "this operation is for admins")
)

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
		p, err = a.accessToken(ctx, raw)
	}
	if err != nil {
		a.Log.InfoContext(ctx, "authentication failed", slog.String("reason", err.Error()))
		return err
	}
	if !setPrincipal(ctx, p) {
		return errors.New("no principal holder in the request context")
	}
	logging.SetUserID(ctx, p.UserID.String())
	return a.authorize(ctx, p, in.RequestValidationInput.Route.Operation)
}

// authorize applies the operation's x-credentials (session: no API keys) and x-role.
func (a *Authenticator) authorize(ctx context.Context, p *Principal, op *openapi3.Operation) error {
	if extension(op, "x-credentials") == "session" && p.APIKeyID != uuid.Nil {
		secevent.Log(ctx, a.Log, secevent.APIKeyForbidden, p.UserID,
			slog.String("api_key_id", p.APIKeyID.String()), slog.String("operation", op.OperationID))
		return errSessionOnly
	}
	if role := extension(op, "x-role"); role != "" && p.Role != role {
		secevent.Log(ctx, a.Log, secevent.AdminForbidden, p.UserID, slog.String("operation", op.OperationID))
		return errAdminOnly
	}
	return nil
}

func extension(op *openapi3.Operation, name string) string {
	s, _ := op.Extensions[name].(string)
	return s
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

// accessToken verifies the JWT, then that its account still exists and is enabled and that
// its session has not ended (logout, password change or reset, refresh reuse, disable): the
// signature alone would keep a token good for its whole lifetime. The role is the account's
// current one, not the token's.
func (a *Authenticator) accessToken(ctx context.Context, raw string) (*Principal, error) {
	c, err := a.Tokens.Verify(raw)
	if err != nil {
		return nil, unauthorized("the access token is invalid or expired")
	}
	uid, err := uuid.Parse(c.Subject)
	if err != nil {
		return nil, unauthorized("the access token is invalid or expired")
	}
	sid, _ := uuid.Parse(c.SessionID)
	st, err := a.session(ctx, uid, sid)
	if err != nil {
		return nil, err
	}
	switch {
	case !st.exists:
		return nil, unauthorized("the account no longer exists")
	case st.disabled:
		return nil, unauthorized("the account is disabled")
	case !st.live:
		return nil, unauthorized("the session has ended; sign in again")
	}
	return &Principal{UserID: uid, Role: st.role, SessionID: sid}, nil
}

func (a *Authenticator) session(ctx context.Context, uid, sid uuid.UUID) (sessionState, error) {
	now := time.Now()
	if st, ok := a.Sessions.get(sid, uid, now); ok {
		return st, nil
	}
	row, err := a.Q.SessionActive(ctx, a.DB, sid, uid)
	var st sessionState
	switch {
	case database.IsNoRows(err):
	case err != nil:
		return st, apierr.ErrUnavailable.Wrap(fmt.Errorf("check session: %w", err))
	default:
		st = sessionState{exists: true, role: row.Role, disabled: row.Disabled, live: row.Live}
	}
	a.Sessions.put(sid, uid, st, now)
	return st, nil
}

func (a *Authenticator) apiKey(ctx context.Context, raw string) (*Principal, error) {
	row, err := a.Q.GetApiKeyOwner(ctx, a.DB, HashSecret(raw))
	if database.IsNoRows(err) {
		return nil, unauthorized("the API key is invalid or expired")
	}
	if err != nil {
		return nil, apierr.ErrUnavailable.Wrap(fmt.Errorf("look up api key: %w", err))
	}
	if row.ExpiresAt != nil && !row.ExpiresAt.After(time.Now()) {
		return nil, unauthorized("the API key is invalid or expired")
	}
	if row.Disabled {
		return nil, unauthorized("the account is disabled")
	}
	if row.LastUsedAt == nil || time.Since(*row.LastUsedAt) > time.Minute {
		if err := a.Q.TouchApiKey(ctx, a.DB, row.ID); err != nil {
			a.Log.WarnContext(ctx, "record api key use", slog.Any("error", err))
		}
	}
	return &Principal{UserID: row.UserID, Role: row.Role, APIKeyID: row.ID}, nil
}
