// Package accounts implements the auth, users and api-keys operations: registration,
// sessions with rotating refresh tokens, the signed-in user's account, and API keys.
package accounts

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/exports"
	"assistant/server/files"
	"assistant/server/metrics"
)

// Accounts implements the accounts operations of the strict server.
type Accounts struct {
	DB               database.DB
	Q                *db.Queries
	Passwords        *auth.Passwords
	Tokens           *auth.Tokens
	RefreshTTL       time.Duration
	RegistrationMode string
	// SessionMaxAge ends a session however often it is refreshed.
	SessionMaxAge time.Duration
	// APIKeyDefaultTTL and APIKeyMaxTTL bound API keys' lifetimes; with NeverExpiringKeys
	// false (production), a key must expire.
	APIKeyDefaultTTL  time.Duration
	APIKeyMaxTTL      time.Duration
	NeverExpiringKeys bool
	// Sessions is the authenticator's cache of session states, told at once when an
	// operation here ends sessions.
	Sessions *auth.SessionCache
	// IPv6Prefix is the network an IPv6 client counts as (the login back-off's "owner's
	// network").
	IPv6Prefix int
	// Files and Exports hold what an account owns on disk, removed when it is deleted.
	Files   *files.Files
	Exports *exports.Exports
	// Metrics count the login back-off's refusals (nil: not counted).
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// RemoveStored removes what a deleted account owned on disk (its rows are gone with it: ON
// DELETE CASCADE). A failure is logged, not returned: the account is deleted either way, and
// the start-up sweep removes what is left.
func (h *Accounts) RemoveStored(ctx context.Context, userID uuid.UUID) {
	for what, remove := range map[string]func(context.Context, uuid.UUID) error{
		"files": h.Files.DeleteUserData, "exports": h.Exports.DeleteUserData,
	} {
		if err := remove(ctx, userID); err != nil {
			h.Log.ErrorContext(ctx, "clean up a deleted account", slog.String("what", what),
				slog.String("target_user_id", userID.String()), slog.Any("error", err))
		}
	}
}

var errInvalidCredentials = &apierr.Error{
	Status:  http.StatusUnauthorized,
	Code:    api.ErrorBodyCodeInvalidCredentials,
	Message: "the email or password is wrong",
	Header:  http.Header{"Www-Authenticate": {"Bearer"}},
}

// NormalizeEmail is the one form of an email that is stored and looked up (registration,
// sign-in, email changes, invitations, the command line).
func NormalizeEmail(e string) string {
	return strings.ToLower(strings.TrimSpace(e))
}

// ToUser is an account as the API shows it.
func ToUser(u db.User) api.User {
	return api.User{
		Id:          u.ID,
		Email:       api.Email(u.Email),
		DisplayName: u.DisplayName,
		Role:        api.UserRole(u.Role),
		Disabled:    u.DisabledAt != nil,
		CreatedAt:   u.CreatedAt,
	}
}

// issueSession starts a session (family) or continues one: a new refresh token in the
// family and an access token that names it. The session ends at sessionExpires, which
// rotation carries over unchanged; no refresh token outlives it.
func (h *Accounts) issueSession(ctx context.Context, tx db.DBTX, u db.User, family uuid.UUID, sessionExpires time.Time) (api.Session, error) {
	secret, hash := auth.NewSecret(auth.RefreshTokenPrefix)
	expires := time.Now().Add(h.RefreshTTL)
	if expires.After(sessionExpires) {
		expires = sessionExpires
	}
	err := h.Q.CreateRefreshToken(ctx, tx, db.CreateRefreshTokenParams{
		ID: database.NewID(), UserID: u.ID, FamilyID: family, TokenHash: hash,
		ExpiresAt: expires, SessionExpiresAt: sessionExpires,
	})
	if err != nil {
		return api.Session{}, err
	}
	access, err := h.Tokens.Issue(u.ID, u.Role, family)
	if err != nil {
		return api.Session{}, err
	}
	return api.Session{
		AccessToken:  access,
		RefreshToken: secret,
		TokenType:    api.Bearer,
		ExpiresIn:    int(h.Tokens.TTL().Seconds()),
		User:         ToUser(u),
	}, nil
}

// currentUser loads the principal's account. An account deleted since its token was
// issued is a 401: the token no longer stands for anyone.
func (h *Accounts) currentUser(ctx context.Context) (db.User, *auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return db.User{}, nil, apierr.ErrUnauthorized
	}
	u, err := h.Q.GetUser(ctx, h.DB, p.UserID)
	if database.IsNoRows(err) {
		return db.User{}, nil, apierr.ErrUnauthorized
	}
	return u, p, err
}
