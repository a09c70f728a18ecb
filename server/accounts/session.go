package accounts

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
)

// Login checks the password and starts a session. An unknown email is verified against a
// dummy hash, so both failures cost the same and answer the same.
func (h *Accounts) Login(ctx context.Context, req api.LoginRequestObject) (api.LoginResponseObject, error) {
	email := normalizeEmail(req.Body.Email)
	u, err := h.Q.GetUserByEmail(ctx, h.DB, email)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	ok, err := h.Passwords.Verify(ctx, u.PasswordHash, req.Body.Password)
	if err != nil {
		return nil, err
	}
	if !ok {
		h.Log.InfoContext(ctx, "login failed", slog.Bool("known_email", u.PasswordHash != ""))
		return nil, errInvalidCredentials
	}
	session, err := h.issueSession(ctx, h.DB, u, database.NewID())
	if err != nil {
		return nil, err
	}
	h.Log.InfoContext(ctx, "login", slog.String("user_id", u.ID.String()))
	return api.Login200JSONResponse{Body: session}, nil
}

var errRefreshInvalid = func() *apierr.Error {
	e := *apierr.ErrUnauthorized
	e.Message = "the refresh token is invalid, expired or already used"
	return &e
}()

// RefreshSession rotates a refresh token. Using an already rotated token again revokes
// its whole family, the newest token included: either the client or a thief is replaying
// it, and the server cannot tell which.
func (h *Accounts) RefreshSession(ctx context.Context, req api.RefreshSessionRequestObject) (api.RefreshSessionResponseObject, error) {
	hash := auth.HashSecret(req.Body.RefreshToken)
	var session api.Session
	reused := false
	err := database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		rt, err := h.Q.GetRefreshTokenForUpdate(ctx, tx, hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return errRefreshInvalid
		}
		if err != nil {
			return err
		}
		switch {
		case rt.RevokedAt != nil:
			return errRefreshInvalid
		case rt.RotatedAt != nil:
			if _, err := h.Q.RevokeRefreshFamily(ctx, tx, rt.FamilyID); err != nil {
				return err
			}
			reused = true
			h.Log.WarnContext(ctx, "refresh token reused: session revoked",
				slog.String("user_id", rt.UserID.String()), slog.String("family_id", rt.FamilyID.String()))
			return nil // commit the revocation, then answer 401
		case !rt.ExpiresAt.After(time.Now()):
			return errRefreshInvalid
		}
		if err := h.Q.MarkRefreshTokenRotated(ctx, tx, rt.ID); err != nil {
			return err
		}
		u, err := h.Q.GetUser(ctx, tx, rt.UserID)
		if err != nil {
			return err
		}
		session, err = h.issueSession(ctx, tx, u, rt.FamilyID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, errRefreshInvalid
	}
	return api.RefreshSession200JSONResponse{Body: session}, nil
}

// Logout revokes the token's session. Unknown tokens are not an error: the outcome the
// client wants, no usable session, holds either way.
func (h *Accounts) Logout(ctx context.Context, req api.LogoutRequestObject) (api.LogoutResponseObject, error) {
	err := database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		rt, err := h.Q.GetRefreshTokenForUpdate(ctx, tx, auth.HashSecret(req.Body.RefreshToken))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = h.Q.RevokeRefreshFamily(ctx, tx, rt.FamilyID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return api.Logout204Response{}, nil
}

// ResetPassword sets a new password with a one-time reset token.
func (h *Accounts) ResetPassword(ctx context.Context, req api.ResetPasswordRequestObject) (api.ResetPasswordResponseObject, error) {
	return nil, errors.New("not implemented")
}
