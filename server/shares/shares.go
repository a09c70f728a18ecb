// Package shares implements share links: read-only snapshots of a conversation's current
// branch that anyone with the link can read without an account.
//
// A share copies, when it is made, what a reader sees (the title, and each message's role,
// content and time: no ids, no emails, no files), so later edits or branches do not change
// it. Its link carries a 256-bit secret of which only the hash is stored; an unknown,
// revoked or expired link is the same 404. Deleting the conversation deletes its shares.
package shares

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/pagination"
	"assistant/server/secevent"
)

// TokenPrefix starts every share link's token.
const TokenPrefix = "sh_"

// CacheControl is what a public read may be cached for: the snapshot never changes, but a
// revoked link should stop working within a minute even in shared caches.
const CacheControl = "public, max-age=60"

// Shares implements the shares operations of the strict server.
type Shares struct {
	DB database.DB
	Q  *db.Queries
	// MaxMessages and MaxBytes bound a snapshot (as they bound an export): a larger branch
	// is a 413, not a snapshot of unbounded size read by anyone with the link.
	MaxMessages int
	MaxBytes    int64
	Log         *slog.Logger
}

func toShare(s db.ListSharesRow) api.Share {
	return api.Share{Id: s.ID, ConversationId: s.ConversationID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
		MessageCount: int(s.MessageCount)}
}

// CreateShare snapshots the current branch of the caller's conversation and shows the
// link's token, once. Someone else's conversation is 404.
func (h *Shares) CreateShare(ctx context.Context, req api.CreateShareRequestObject) (api.CreateShareResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	params := db.CreateShareParams{ID: database.NewID(), UserID: p.UserID, ConversationID: req.ConversationId}
	if req.Body != nil && req.Body.ExpiresIn != nil {
		// The validator bounds it (60 s to a year).
		n := int32(*req.Body.ExpiresIn)
		params.ExpiresIn = &n
	}
	size, err := h.Q.ShareSize(ctx, h.DB, req.ConversationId, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("size a share: %w", err)
	}
	if int(size.Messages) > h.MaxMessages || size.Bytes > h.MaxBytes {
		return nil, apierr.TooLarge(h.MaxBytes).WithMessage(fmt.Sprintf(
			"the conversation's branch is too large to share at once (at most %d messages and %d bytes of text)", h.MaxMessages, h.MaxBytes))
	}
	token, hash := auth.NewSecret(TokenPrefix)
	params.TokenHash = hash
	s, err := h.Q.CreateShare(ctx, h.DB, params)
	if database.IsNoRows(err) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("create share: %w", err)
	}
	secevent.Log(ctx, h.Log, secevent.ShareCreated, p.UserID, slog.String("share_id", s.ID.String()),
		slog.String("conversation_id", s.ConversationID.String()))
	return api.CreateShare201JSONResponse{Id: s.ID, ConversationId: s.ConversationID, UrlToken: token,
		CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, MessageCount: int(s.MessageCount)}, nil
}

// ListShares pages through the caller's shares still readable, newest first.
func (h *Shares) ListShares(ctx context.Context, req api.ListSharesRequestObject) (api.ListSharesResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.ListSharesRow, error) {
			params := db.ListSharesParams{UserID: p.UserID, PageSize: n}
			if after != nil {
				params.AfterID = &after.ID
			}
			return h.Q.ListShares(ctx, h.DB, params)
		},
		func(s db.ListSharesRow) pagination.Position { return pagination.Position{ID: s.ID} }, toShare)
	if err != nil {
		return nil, err
	}
	return api.ListShares200JSONResponse{Items: items, NextCursor: next}, nil
}

// DeleteShare revokes the caller's share: its link is 404 from now on. Someone else's share
// is 404.
func (h *Shares) DeleteShare(ctx context.Context, req api.DeleteShareRequestObject) (api.DeleteShareResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	n, err := h.Q.DeleteShare(ctx, h.DB, req.ShareId, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("delete share: %w", err)
	}
	if n == 0 {
		return nil, apierr.ErrNotFound
	}
	secevent.Log(ctx, h.Log, secevent.ShareRevoked, p.UserID, slog.String("share_id", req.ShareId.String()))
	return api.DeleteShare204Response{}, nil
}

// GetPublicShare answers anyone holding the link with the snapshot, cacheable for a minute.
// An unknown, revoked or expired token is the same 404.
func (h *Shares) GetPublicShare(ctx context.Context, req api.GetPublicShareRequestObject) (api.GetPublicShareResponseObject, error) {
	s, err := h.Q.GetShareByTokenHash(ctx, h.DB, auth.HashSecret(req.Token))
	if database.IsNoRows(err) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read share: %w", err)
	}
	tag := etag(s)
	if req.Params.IfNoneMatch != nil && matches(*req.Params.IfNoneMatch, tag) {
		return notModified{etag: tag}, nil
	}
	var messages []api.PublicMessage
	if err := json.Unmarshal(s.Messages, &messages); err != nil {
		return nil, fmt.Errorf("share %s: snapshot: %w", s.ID, err)
	}
	for i := range messages {
		messages[i].CreatedAt = messages[i].CreatedAt.UTC()
	}
	cache := CacheControl
	return api.GetPublicShare200JSONResponse{
		Body:    api.PublicShare{Title: s.Title, CreatedAt: s.CreatedAt, Messages: messages},
		Headers: api.GetPublicShare200ResponseHeaders{CacheControl: &cache, ETag: &tag},
	}, nil
}

// etag is the snapshot's version: it never changes, so the share's identity is enough. It
// is hashed so that the header does not show the share's id.
func etag(s db.GetShareByTokenHashRow) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s", s.ID, s.CreatedAt.UTC().Format(time.RFC3339Nano)))
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// matches applies If-None-Match (RFC 9110 §13.1.2): "*" or any listed tag equal to ours,
// compared weakly (a W/ prefix is ignored).
func matches(header, tag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// notModified is the 304 with the validator and freshness of the 200 it stands for (RFC
// 9110 §15.4.5), so a cache that revalidates keeps the response public for another minute
// instead of taking the API's no-store.
type notModified struct{ etag string }

func (n notModified) VisitGetPublicShareResponse(w http.ResponseWriter) error {
	w.Header().Set("ETag", n.etag)
	w.Header().Set("Cache-Control", CacheControl)
	w.WriteHeader(http.StatusNotModified)
	return nil
}
