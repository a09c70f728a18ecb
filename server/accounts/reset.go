package accounts

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/middleware"
	"assistant/server/secevent"
)

// One answer whether the reset token is unknown, expired or already used.
var errResetInvalid = &apierr.Error{
	Status:  http.StatusUnauthorized,
	Code:    api.ErrorBodyCodeUnauthorized,
	Message: "the reset token is invalid, expired or already used",
	Header:  http.Header{"Www-Authenticate": {"Bearer"}},
}

// ResetPassword sets a new password with a one-time reset token an admin issued. In one
// transaction the token is used up, the password replaced, every session of the account
// ended, its API keys deleted and its login back-off cleared.
func (h *Accounts) ResetPassword(ctx context.Context, req api.ResetPasswordRequestObject) (api.ResetPasswordResponseObject, error) {
	tokenHash := auth.HashSecret(req.Body.Token)
	// Refuse a wrong token before paying for the password hash; UsePasswordReset decides.
	ok, err := h.Q.PasswordResetUsable(ctx, h.DB, tokenHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errResetInvalid
	}
	hash, err := h.Passwords.Hash(ctx, req.Body.NewPassword)
	if err != nil {
		return nil, err
	}
	var (
		reset              db.PasswordReset
		sessions, keysGone int64
	)
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		var err error
		reset, err = h.Q.UsePasswordReset(ctx, tx, tokenHash)
		if database.IsNoRows(err) {
			return errResetInvalid
		}
		if err != nil {
			return err
		}
		if err := h.Q.LockUserSessions(ctx, tx, reset.UserID); err != nil {
			return err
		}
		if err := h.Q.UpdatePassword(ctx, tx, hash, reset.UserID); err != nil {
			return err
		}
		if sessions, err = h.Q.RevokeUserRefreshFamilies(ctx, tx, reset.UserID); err != nil {
			return err
		}
		if keysGone, err = h.Q.DeleteUserApiKeys(ctx, tx, reset.UserID); err != nil {
			return err
		}
		if _, err := h.Q.DeleteUserPasswordResets(ctx, tx, reset.UserID); err != nil {
			return err
		}
		return h.Q.ResetLoginFailures(ctx, tx, reset.UserID)
	})
	if err != nil {
		return nil, err
	}
	secevent.Log(ctx, h.Log, secevent.PasswordReset, reset.UserID,
		slog.Int64("sessions_ended", sessions), slog.Int64("api_keys_deleted", keysGone))
	h.Sessions.ForgetUser(reset.UserID)
	h.rememberNetwork(ctx, reset.UserID, middleware.Network(middleware.ClientIP(ctx), h.IPv6Prefix))
	return api.ResetPassword204Response{}, nil
}
