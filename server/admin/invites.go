package admin

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/pagination"
	"assistant/server/secevent"
)

func toInvite(i db.Invite) api.Invite {
	return api.Invite{Id: i.ID, Email: (*api.Email)(i.Email), CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt}
}

// AdminListInvites pages through the invitations still open (not used, revoked or
// expired), newest first. Their tokens are never shown again.
func (h *Admin) AdminListInvites(ctx context.Context, req api.AdminListInvitesRequestObject) (api.AdminListInvitesResponseObject, error) {
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.Invite, error) {
			var afterID *uuid.UUID
			if after != nil {
				afterID = &after.ID
			}
			return h.Q.ListInvites(ctx, h.DB, afterID, n)
		},
		func(i db.Invite) pagination.Position { return pagination.Position{ID: i.ID} }, toInvite)
	if err != nil {
		return nil, err
	}
	return api.AdminListInvites200JSONResponse{Items: items, NextCursor: next}, nil
}

// AdminCreateInvite makes a one-time invitation, for one email or for anyone, and shows its
// token once.
func (h *Admin) AdminCreateInvite(ctx context.Context, req api.AdminCreateInviteRequestObject) (api.AdminCreateInviteResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	ttl := h.InviteTTL
	if req.Body.ExpiresIn != nil {
		ttl = time.Duration(*req.Body.ExpiresIn) * time.Second
	}
	var email *string
	if req.Body.Email != nil {
		e := accounts.NormalizeEmail(string(*req.Body.Email))
		email = &e
	}
	secret, hash := auth.NewSecret(InvitePrefix)
	inv, err := h.Q.CreateInvite(ctx, h.DB, db.CreateInviteParams{
		ID: database.NewID(), TokenHash: hash, Email: email, CreatedBy: &p.UserID, ExpiresAt: time.Now().Add(ttl),
	})
	if database.IsForeignKeyViolation(err) { // the admin's own account is gone
		return nil, apierr.ErrUnauthorized
	}
	if err != nil {
		return nil, err
	}
	secevent.Log(ctx, h.Log, secevent.AdminInviteCreated, uuid.Nil,
		slog.String("invite_id", inv.ID.String()), slog.Bool("for_one_email", inv.Email != nil), slog.Time("expires_at", inv.ExpiresAt))
	v := toInvite(inv)
	return api.AdminCreateInvite201JSONResponse{Id: v.Id, Token: secret, Email: v.Email, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt}, nil
}

// AdminDeleteInvite revokes an invitation that has not been used; its token stops working
// at once. A used or unknown invitation is 404.
func (h *Admin) AdminDeleteInvite(ctx context.Context, req api.AdminDeleteInviteRequestObject) (api.AdminDeleteInviteResponseObject, error) {
	n, err := h.Q.DeleteInvite(ctx, h.DB, req.InviteId)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, apierr.ErrNotFound
	}
	secevent.Log(ctx, h.Log, secevent.AdminInviteDeleted, uuid.Nil, slog.String("invite_id", req.InviteId.String()))
	return api.AdminDeleteInvite204Response{}, nil
}
