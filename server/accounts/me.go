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
	"assistant/server/secevent"
)

// GetMe answers with the signed-in account.
func (h *Accounts) GetMe(ctx context.Context, _ api.GetMeRequestObject) (api.GetMeResponseObject, error) {
	u, _, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	return api.GetMe200JSONResponse(ToUser(u)), nil
}

// UpdateMe changes the email and/or display name. A new email needs the current password:
// the email is where a password reset would go, so changing it is taking over the account.
func (h *Accounts) UpdateMe(ctx context.Context, req api.UpdateMeRequestObject) (api.UpdateMeResponseObject, error) {
	u, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	params := db.UpdateUserParams{ID: p.UserID}
	if req.Body.Email != nil {
		if req.Body.CurrentPassword == nil {
			return nil, apierr.Validation(api.FieldError{Field: "body.current_password", Message: "is required to change the email"})
		}
		if err := h.checkPassword(ctx, u, *req.Body.CurrentPassword); err != nil {
			return nil, err
		}
		e := NormalizeEmail(string(*req.Body.Email))
		params.Email = &e
	}
	if req.Body.DisplayName != nil {
		n := strings.TrimSpace(*req.Body.DisplayName)
		if n == "" {
			return nil, apierr.Validation(api.FieldError{Field: "body.display_name", Message: "must not be blank"})
		}
		params.DisplayName = &n
	}
	updated, err := h.Q.UpdateUser(ctx, h.DB, params)
	if database.IsUniqueViolation(err, "users_email_key") {
		return nil, apierr.Conflict("an account with this email already exists")
	}
	if err != nil {
		return nil, err
	}
	if params.Email != nil && *params.Email != u.Email {
		secevent.Log(ctx, h.Log, secevent.EmailChanged, u.ID)
	}
	return api.UpdateMe200JSONResponse(ToUser(updated)), nil
}

// checkPassword is the re-authentication of credential operations: 403 when the password
// is wrong (the caller is signed in; this is not a login). The attempts are limited per
// account by the rate limiter.
func (h *Accounts) checkPassword(ctx context.Context, u db.User, password string) error {
	ok, err := h.Passwords.Verify(ctx, u.PasswordHash, password)
	if err != nil {
		return err
	}
	if !ok {
		secevent.Log(ctx, h.Log, secevent.PasswordCheckFailed, u.ID)
		return apierr.New(http.StatusForbidden, api.ErrorBodyCodeForbidden, "the current password is wrong")
	}
	return nil
}

// DeleteMe deletes the account; sessions, keys and content go with it (ON DELETE CASCADE),
// then what lives on disk.
func (h *Accounts) DeleteMe(ctx context.Context, _ api.DeleteMeRequestObject) (api.DeleteMeResponseObject, error) {
	_, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := h.Q.DeleteUser(ctx, h.DB, p.UserID); err != nil {
		return nil, err
	}
	h.RemoveStored(ctx, p.UserID)
	h.Sessions.ForgetUser(p.UserID)
	secevent.Log(ctx, h.Log, secevent.AccountDeleted, p.UserID)
	return api.DeleteMe204Response{}, nil
}

// ChangePassword replaces the password after checking the current one, ends every other
// session of the account and deletes its API keys: a password change is what an owner does
// who fears it was known, and a key made with it would otherwise outlive it by up to a year.
func (h *Accounts) ChangePassword(ctx context.Context, req api.ChangePasswordRequestObject) (api.ChangePasswordResponseObject, error) {
	u, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.checkPassword(ctx, u, req.Body.CurrentPassword); err != nil {
		return nil, err
	}
	hash, err := h.Passwords.Hash(ctx, req.Body.NewPassword)
	if err != nil {
		return nil, err
	}
	var ended, keys int64
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if err := h.Q.LockUserSessions(ctx, tx, u.ID); err != nil {
			return err
		}
		if err := h.Q.UpdatePassword(ctx, tx, hash, u.ID); err != nil {
			return err
		}
		var err error
		if ended, err = h.Q.RevokeOtherRefreshFamilies(ctx, tx, u.ID, p.SessionID); err != nil {
			return err
		}
		keys, err = h.Q.DeleteUserApiKeys(ctx, tx, u.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.Sessions.ForgetUser(u.ID)
	secevent.Log(ctx, h.Log, secevent.PasswordChanged, u.ID, slog.Int64("sessions_ended", ended), slog.Int64("api_keys_deleted", keys))
	return api.ChangePassword204Response{}, nil
}
