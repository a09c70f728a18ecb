package accounts

import (
	"context"
	"log/slog"
	"time"

	"github.com/oapi-codegen/nullable"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/pagination"
	"assistant/server/secevent"
)

func toApiKey(k db.ApiKey) api.ApiKey {
	return api.ApiKey{Id: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt}
}

// ListApiKeys pages through the account's keys, newest first.
func (h *Accounts) ListApiKeys(ctx context.Context, req api.ListApiKeysRequestObject) (api.ListApiKeysResponseObject, error) {
	_, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.ApiKey, error) {
			params := db.ListApiKeysParams{UserID: p.UserID, PageSize: n}
			if after != nil {
				params.AfterID = &after.ID
			}
			return h.Q.ListApiKeys(ctx, h.DB, params)
		},
		func(k db.ApiKey) pagination.Position { return pagination.Position{ID: k.ID} }, toApiKey)
	if err != nil {
		return nil, err
	}
	return api.ListApiKeys200JSONResponse{Items: items, NextCursor: next}, nil
}

// CreateApiKey makes a key and shows its secret, once. It needs the current password, so a
// stolen access token cannot turn itself into a long-lived key.
func (h *Accounts) CreateApiKey(ctx context.Context, req api.CreateApiKeyRequestObject) (api.CreateApiKeyResponseObject, error) {
	u, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	expires, err := h.keyExpiry(req.Body.ExpiresAt)
	if err != nil {
		return nil, err
	}
	if err := h.checkPassword(ctx, u, req.Body.CurrentPassword); err != nil {
		return nil, err
	}
	secret, hash := auth.NewSecret(auth.APIKeyPrefix)
	k, err := h.Q.CreateApiKey(ctx, h.DB, db.CreateApiKeyParams{
		ID: database.NewID(), UserID: p.UserID, Name: req.Body.Name,
		Prefix: secret[:len(auth.APIKeyPrefix)+6], KeyHash: hash, ExpiresAt: expires,
	})
	if err != nil {
		return nil, err
	}
	secevent.Log(ctx, h.Log, secevent.APIKeyCreated, p.UserID, slog.String("api_key_id", k.ID.String()))
	v := toApiKey(k)
	return api.CreateApiKey201JSONResponse{Id: v.Id, Name: v.Name, Prefix: v.Prefix, CreatedAt: v.CreatedAt,
		ExpiresAt: v.ExpiresAt, LastUsedAt: v.LastUsedAt, Key: secret}, nil
}

// DeleteApiKey revokes a key of the account; someone else's key is 404.
func (h *Accounts) DeleteApiKey(ctx context.Context, req api.DeleteApiKeyRequestObject) (api.DeleteApiKeyResponseObject, error) {
	_, p, err := h.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	n, err := h.Q.DeleteApiKey(ctx, h.DB, req.KeyId, p.UserID)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, apierr.ErrNotFound
	}
	secevent.Log(ctx, h.Log, secevent.APIKeyDeleted, p.UserID, slog.String("api_key_id", req.KeyId.String()))
	return api.DeleteApiKey204Response{}, nil
}

// keyExpiry is the key's expiry: the default lifetime when none is asked for; in the future
// and within the longest lifetime when one is; never (nil) only where that is allowed.
func (h *Accounts) keyExpiry(asked nullable.Nullable[time.Time]) (*time.Time, error) {
	now := time.Now()
	if !asked.IsSpecified() {
		t := now.Add(h.APIKeyDefaultTTL)
		return &t, nil
	}
	if asked.IsNull() {
		if !h.NeverExpiringKeys {
			return nil, apierr.Validation(api.FieldError{Field: "body.expires_at", Message: "must be a time: keys that never expire are not allowed here"})
		}
		return nil, nil
	}
	t := asked.MustGet()
	switch {
	case !t.After(now):
		return nil, apierr.Validation(api.FieldError{Field: "body.expires_at", Message: "must be in the future"})
	case t.After(now.Add(h.APIKeyMaxTTL)):
		return nil, apierr.Validation(api.FieldError{Field: "body.expires_at", Message: "must be at most " + h.APIKeyMaxTTL.String() + " from now"})
	}
	return &t, nil
}
