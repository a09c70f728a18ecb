package admin

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/pagination"
	"assistant/server/secevent"
)

// AdminListUsers pages through every account, newest first; q keeps those whose email or
// display name contains it (its LIKE metacharacters are matched literally).
func (h *Admin) AdminListUsers(ctx context.Context, req api.AdminListUsersRequestObject) (api.AdminListUsersResponseObject, error) {
	var q *string
	if req.Params.Q != nil {
		p := likeContains(*req.Params.Q)
		q = &p
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.User, error) {
			params := db.ListUsersParams{Q: q, PageSize: n}
			if after != nil {
				params.AfterID = &after.ID
			}
			return h.Q.ListUsers(ctx, h.DB, params)
		},
		func(u db.User) pagination.Position { return pagination.Position{ID: u.ID} }, accounts.ToUser)
	if err != nil {
		return nil, err
	}
	return api.AdminListUsers200JSONResponse{Items: items, NextCursor: next}, nil
}

// AdminUpdateUser changes an account's role and/or disables or enables it. Disabling ends
// every session of the account in the same transaction (its API keys stop working through
// the authenticator's check of the account). An admin cannot disable or demote themselves.
func (h *Admin) AdminUpdateUser(ctx context.Context, req api.AdminUpdateUserRequestObject) (api.AdminUpdateUserResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	if req.UserId == p.UserID {
		if b.Disabled != nil && *b.Disabled {
			return nil, apierr.Conflict("you cannot disable your own account")
		}
		if b.Role != nil && *b.Role != api.AdminUpdateUserRequestRoleAdmin {
			return nil, apierr.Conflict("you cannot remove your own admin role")
		}
	}
	params := db.AdminUpdateUserParams{ID: req.UserId, Disabled: b.Disabled}
	if b.Role != nil {
		r := string(*b.Role)
		params.Role = &r
	}
	var (
		u     db.User
		ended int64
	)
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if err := h.Q.LockAdmins(ctx, tx); err != nil {
			return err
		}
		var err error
		u, err = h.Q.AdminUpdateUser(ctx, tx, params)
		if database.IsNoRows(err) {
			return apierr.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := h.keepAnAdmin(ctx, tx); err != nil {
			return err
		}
		if b.Disabled != nil && *b.Disabled {
			// A disabled account is often a compromised one: its keys go, so enabling it
			// again does not bring back a key a thief made.
			if err := h.Q.LockUserSessions(ctx, tx, u.ID); err != nil {
				return err
			}
			if ended, err = h.Q.RevokeUserRefreshFamilies(ctx, tx, u.ID); err != nil {
				return err
			}
			_, err = h.Q.DeleteUserApiKeys(ctx, tx, u.ID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	h.Sessions.ForgetUser(u.ID)
	attrs := []slog.Attr{slog.String("role", u.Role), slog.Bool("disabled", u.DisabledAt != nil)}
	if b.Disabled != nil && *b.Disabled {
		attrs = append(attrs, slog.Int64("sessions_ended", ended))
	}
	secevent.Log(ctx, h.Log, secevent.AdminUserUpdated, u.ID, attrs...)
	return api.AdminUpdateUser200JSONResponse(accounts.ToUser(u)), nil
}

// keepAnAdmin refuses a change that leaves the installation without an enabled admin (two
// admins demoting each other at once: the second waits for the lock and is refused).
func (h *Admin) keepAnAdmin(ctx context.Context, tx pgx.Tx) error {
	n, err := h.Q.CountActiveAdmins(ctx, tx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.Conflict("the installation would have no enabled admin left")
	}
	return nil
}

// AdminDeleteUser deletes an account as DELETE /users/me does: its rows go with it (ON
// DELETE CASCADE), then what it owns on disk goes (Accounts.RemoveStored).
func (h *Admin) AdminDeleteUser(ctx context.Context, req api.AdminDeleteUserRequestObject) (api.AdminDeleteUserResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	if req.UserId == p.UserID {
		return nil, apierr.Conflict("you cannot delete your own account here")
	}
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if err := h.Q.LockAdmins(ctx, tx); err != nil {
			return err
		}
		n, err := h.Q.DeleteUser(ctx, tx, req.UserId)
		if err != nil {
			return err
		}
		if n == 0 {
			return apierr.ErrNotFound
		}
		return h.keepAnAdmin(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	h.Sessions.ForgetUser(req.UserId)
	h.Accounts.RemoveStored(ctx, req.UserId)
	secevent.Log(ctx, h.Log, secevent.AdminUserDeleted, req.UserId)
	return api.AdminDeleteUser204Response{}, nil
}

// AdminCreatePasswordReset issues a one-time reset token for the account, voiding its
// earlier ones. Only the token's hash is stored; the token is shown once, here.
func (h *Admin) AdminCreatePasswordReset(ctx context.Context, req api.AdminCreatePasswordResetRequestObject) (api.AdminCreatePasswordResetResponseObject, error) {
	secret, hash := auth.NewSecret(PasswordResetPrefix)
	var reset db.PasswordReset
	err := database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if _, err := h.Q.GetUser(ctx, tx, req.UserId); database.IsNoRows(err) {
			return apierr.ErrNotFound
		} else if err != nil {
			return err
		}
		if _, err := h.Q.DeleteUserPasswordResets(ctx, tx, req.UserId); err != nil {
			return err
		}
		var err error
		reset, err = h.Q.CreatePasswordReset(ctx, tx, db.CreatePasswordResetParams{
			ID: database.NewID(), UserID: req.UserId, TokenHash: hash, ExpiresAt: time.Now().Add(h.ResetTTL),
		})
		if database.IsForeignKeyViolation(err) { // deleted since GetUser
			return apierr.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	secevent.Log(ctx, h.Log, secevent.AdminResetIssued, req.UserId, slog.Time("expires_at", reset.ExpiresAt))
	return api.AdminCreatePasswordReset201JSONResponse{Token: secret, ExpiresAt: reset.ExpiresAt}, nil
}
