package accounts

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/database"
)

// GetMe answers with the signed-in account.
func (h *Accounts) GetMe(ctx context.Context, _ api.GetMeRequestObject) (api.GetMeResponseObject, error) {
	u, _, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	return api.GetMe200JSONResponse(toUser(u)), nil
}

// UpdateMe changes the email and/or display name.
func (h *Accounts) UpdateMe(ctx context.Context, req api.UpdateMeRequestObject) (api.UpdateMeResponseObject, error) {
	_, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	params := db.UpdateUserParams{ID: p.UserID}
	if req.Body.Email != nil {
		e := normalizeEmail(*req.Body.Email)
		params.Email = &e
	}
	if req.Body.DisplayName != nil {
		n := strings.TrimSpace(*req.Body.DisplayName)
		if n == "" {
			return nil, apierr.Validation(api.FieldError{Field: "body.display_name", Message: "must not be blank"})
		}
		params.DisplayName = &n
	}
	u, err := h.Q.UpdateUser(ctx, h.DB, params)
	if database.IsUniqueViolation(err, "users_email_key") {
		return nil, apierr.Conflict("an account with this email already exists")
	}
	if err != nil {
		return nil, err
	}
	return api.UpdateMe200JSONResponse(toUser(u)), nil
}

// DeleteMe deletes the account; sessions, keys and content go with it (ON DELETE CASCADE),
// then the hooks remove what lives on disk.
func (h *Accounts) DeleteMe(ctx context.Context, _ api.DeleteMeRequestObject) (api.DeleteMeResponseObject, error) {
	_, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := h.Q.DeleteUser(ctx, h.DB, p.UserID); err != nil {
		return nil, err
	}
	for _, hook := range h.OnDelete {
		if err := hook(ctx, p.UserID); err != nil {
			h.Log.ErrorContext(ctx, "clean up a deleted account", slog.Any("error", err))
		}
	}
	h.Log.InfoContext(ctx, "account deleted", slog.String("user_id", p.UserID.String()))
	return api.DeleteMe204Response{}, nil
}

// ChangePassword replaces the password after checking the current one, and ends every
// other session of the account.
func (h *Accounts) ChangePassword(ctx context.Context, req api.ChangePasswordRequestObject) (api.ChangePasswordResponseObject, error) {
	u, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	ok, err := h.Passwords.Verify(ctx, u.PasswordHash, req.Body.CurrentPassword)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden, "the current password is wrong")
	}
	hash, err := h.Passwords.Hash(ctx, req.Body.NewPassword)
	if err != nil {
		return nil, err
	}
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if err := h.Q.UpdatePassword(ctx, tx, hash, u.ID); err != nil {
			return err
		}
		_, err := h.Q.RevokeOtherRefreshFamilies(ctx, tx, u.ID, p.SessionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.Log.InfoContext(ctx, "password changed; other sessions ended")
	return api.ChangePassword204Response{}, nil
}
