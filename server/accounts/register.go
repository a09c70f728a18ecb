package accounts

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/middleware"
	"assistant/server/secevent"
)

var (
	errRegistrationClosed = apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden,
		"registration is closed: an administrator creates accounts")
	errInviteRequired = apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden,
		"registration needs an invitation: pass the invite_token an administrator gave you")
	// One answer whether the token is unknown, used, expired, revoked or for another email.
	errInviteInvalid = apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden,
		"the invitation is invalid, expired, already used or for another email")
)

// Register creates an account and its first session. REGISTRATION_MODE decides who may:
// open (anyone; the first account becomes admin), invite (with an open invitation, used up
// in the same transaction, so one invitation makes one account however many try at once)
// or closed (nobody).
func (h *Accounts) Register(ctx context.Context, req api.RegisterRequestObject) (api.RegisterResponseObject, error) {
	mode := h.RegistrationMode
	if mode == "closed" {
		return nil, errRegistrationClosed
	}
	email := NormalizeEmail(string(req.Body.Email))
	var inviteHash []byte
	if mode == "invite" {
		if req.Body.InviteToken == nil {
			return nil, errInviteRequired
		}
		inviteHash = auth.HashSecret(*req.Body.InviteToken)
		// Refuse a wrong token before paying for the password hash; UseInvite decides.
		ok, err := h.Q.InviteUsable(ctx, h.DB, inviteHash, &email)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errInviteInvalid
		}
	}
	name := strings.TrimSpace(derefOr(req.Body.DisplayName, ""))
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	hash, err := h.Passwords.Hash(ctx, req.Body.Password)
	if err != nil {
		return nil, err
	}
	var (
		session  api.Session
		inviteID uuid.UUID
	)
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if err := h.Q.LockRegistration(ctx, tx); err != nil {
			return err
		}
		if inviteHash != nil {
			inv, err := h.Q.UseInvite(ctx, tx, inviteHash, &email)
			if database.IsNoRows(err) {
				return errInviteInvalid
			}
			if err != nil {
				return err
			}
			inviteID = inv.ID
		}
		u, err := h.Q.CreateUser(ctx, tx, db.CreateUserParams{ID: database.NewID(), Email: email, DisplayName: name,
			PasswordHash: hash, FirstAdmin: mode == "open"})
		if database.IsUniqueViolation(err, "users_email_key") {
			return apierr.Conflict("an account with this email already exists")
		}
		if err != nil {
			return err
		}
		if inviteHash != nil {
			if err := h.Q.SetInviteUser(ctx, tx, &u.ID, inviteID); err != nil {
				return err
			}
		}
		session, err = h.issueSession(ctx, tx, u, database.NewID(), time.Now().Add(h.SessionMaxAge))
		return err
	})
	if err != nil {
		return nil, err
	}
	attrs := []slog.Attr{slog.String("mode", mode), slog.String("role", string(session.User.Role))}
	if inviteID != uuid.Nil {
		attrs = append(attrs, slog.String("invite_id", inviteID.String()))
	}
	h.rememberNetwork(ctx, session.User.Id, middleware.Network(middleware.ClientIP(ctx), h.IPv6Prefix))
	secevent.Log(ctx, h.Log, secevent.Registered, session.User.Id, attrs...)
	return api.Register201JSONResponse{Body: session}, nil
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
