package accounts

import (
	"context"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/database"
)

// Register creates an account and its first session.
func (h *Accounts) Register(ctx context.Context, req api.RegisterRequestObject) (api.RegisterResponseObject, error) {
	if h.RegistrationMode == "closed" {
		return nil, apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden, "registration is disabled")
	}
	email := normalizeEmail(req.Body.Email)
	name := strings.TrimSpace(derefOr(req.Body.DisplayName, ""))
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	hash, err := h.Passwords.Hash(ctx, req.Body.Password)
	if err != nil {
		return nil, err
	}
	var session api.Session
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if err := h.Q.LockRegistration(ctx, tx); err != nil {
			return err
		}
		u, err := h.Q.CreateUser(ctx, tx, db.CreateUserParams{ID: database.NewID(), Email: email, DisplayName: name, PasswordHash: hash})
		if database.IsUniqueViolation(err, "users_email_key") {
			return apierr.Conflict("an account with this email already exists")
		}
		if err != nil {
			return err
		}
		session, err = h.issueSession(ctx, tx, u, database.NewID())
		return err
	})
	if err != nil {
		return nil, err
	}
	return api.Register201JSONResponse{Body: session}, nil
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
