// Package exports renders conversations as PDF, Markdown or JSON, stores the files in
// EXPORT_DIR and serves them.
package exports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/chat"
	"assistant/server/database"
	"assistant/server/download"
	"assistant/server/metrics"
	"assistant/server/pagination"
	"assistant/server/recovery"
	"assistant/server/storage"
)

// Exports implements the exports operations.
type Exports struct {
	DB    database.DB
	Q     *db.Queries
	Store storage.Store
	// MaxMessages and MaxBytes bound what is exported at once (synchronously); a larger
	// conversation is a 413, not a timeout.
	MaxMessages int
	MaxBytes    int64
	// Quota limits what one user's files and exports take together.
	Quota int64
	// Timeout bounds one export: its wait for a worker and its rendering.
	Timeout time.Duration
	// Workers bounds the exports rendering at once in this process (each user has at most
	// one of them); 0 means one per CPU.
	Workers int
	// Metrics count the bytes stored (nil: not counted).
	Metrics *metrics.Metrics
	Log     *slog.Logger

	// toConversation is chat.ToConversation; a test makes it panic to see a failing render
	// recovered.
	toConversation func(db.Conversation) api.Conversation

	poolOnce sync.Once
	pool     chan struct{}
	mu       sync.Mutex
	busy     map[uuid.UUID]bool // users with an export rendering
	running  atomic.Int64
}

var formats = map[api.CreateExportRequestFormat]struct{ ext, ctype string }{
	api.CreateExportRequestFormatPdf:      {"pdf", "application/pdf"},
	api.CreateExportRequestFormatMarkdown: {"md", "text/markdown; charset=utf-8"},
	api.CreateExportRequestFormatJson:     {"json", "application/json"},
}

func toExport(e db.Export) api.Export {
	return api.Export{Id: e.ID, ConversationId: e.ConversationID, Format: api.ExportFormat(e.Format),
		Filename: e.Filename, SizeBytes: e.SizeBytes, CreatedAt: e.CreatedAt}
}

// CreateExport renders and stores the conversation, then answers with the export.
func (h *Exports) CreateExport(ctx context.Context, req api.CreateExportRequestObject) (api.CreateExportResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	conv, err := h.Q.GetConversation(ctx, h.DB, req.ConversationId, p.UserID)
	if database.IsNoRows(err) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	msgs, err := h.Q.MessagesForExport(ctx, h.DB, conv.ID, int32(h.MaxMessages+1))
	if err != nil {
		return nil, err
	}
	var size int64
	for _, m := range msgs {
		size += int64(len(m.Content))
	}
	if len(msgs) > h.MaxMessages || size > h.MaxBytes {
		return nil, apierr.TooLarge(h.MaxBytes).WithMessage(fmt.Sprintf(
			"the conversation is too large to export at once (at most %d messages and %d bytes of text)", h.MaxMessages, h.MaxBytes))
	}

	// A user already at the quota gets nothing rendered; what is left bounds the render.
	used, err := h.Q.StorageUsed(ctx, h.DB, p.UserID)
	if err != nil {
		return nil, err
	}
	if used >= h.Quota {
		return nil, overQuota(used, h.Quota, "")
	}

	format := formats[req.Body.Format]
	id := database.NewID()
	key := p.UserID.String() + "/" + id.String()
	name := filename(conv, format.ext)
	now := time.Now()

	blob, err := h.Store.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(blob, sum), limit: h.Quota - used}
	// The timeout is the render's: the row below is written on the request's own context,
	// so a render that ends just in time is still stored.
	rctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	err = h.render(rctx, p.UserID, counter, req.Body.Format, conv, msgs, now)
	if counter.over {
		// Whatever the renderer made of the refused write, the file is incomplete.
		blob.Abort()
		return nil, overQuota(used, h.Quota, fmt.Sprintf("this export is more than %d bytes", counter.limit))
	}
	if err != nil {
		blob.Abort()
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err() // the client left
		}
		if rctx.Err() != nil {
			return nil, apierr.ErrUnavailable.WithMessage("the export took too long").Wrap(err)
		}
		return nil, fmt.Errorf("render %s export: %w", req.Body.Format, err)
	}
	var row db.Export
	committed := false
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		// Serialised with the user's uploads and other exports: each sees what the
		// others stored.
		if err := h.Q.LockUserStorage(ctx, tx, p.UserID.String()); err != nil {
			return err
		}
		used, err := h.Q.StorageUsed(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		if used+counter.n > h.Quota {
			return overQuota(used, h.Quota, fmt.Sprintf("this export is %d bytes", counter.n))
		}
		row, err = h.Q.CreateExport(ctx, tx, db.CreateExportParams{ID: id, UserID: p.UserID, ConversationID: &conv.ID,
			Format: string(req.Body.Format), Filename: name, ContentType: format.ctype, SizeBytes: counter.n,
			Sha256: hex.EncodeToString(sum.Sum(nil)), StorageKey: key})
		if err != nil {
			return err
		}
		// The file becomes visible only with the row: a failed commit below removes it.
		if err := blob.Commit(); err != nil {
			return err
		}
		committed = true
		return nil
	})
	if err != nil {
		if committed {
			_ = h.Store.Delete(ctx, key)
		} else {
			blob.Abort()
		}
		return nil, err
	}
	h.Metrics.Stored(metrics.KindExport, row.SizeBytes)
	return api.CreateExport201JSONResponse(toExport(row)), nil
}

// overQuota is the 429 for an export that does not fit what is left of the storage quota
// (it frees up only when something is deleted: no Retry-After).
func overQuota(used, quota int64, needs string) *apierr.Error {
	msg := fmt.Sprintf("the export would exceed your storage quota: %d bytes used of %d (files and exports together)", used, quota)
	if needs != "" {
		msg += "; " + needs
	}
	return apierr.QuotaExceeded(msg+"; delete files or exports to make room", 0)
}

// errBusy answers a user's second export while the first is rendering.
var errBusy = &apierr.Error{Status: http.StatusTooManyRequests, Code: api.ErrorBodyCodeRateLimited,
	Message: "an export of yours is already being made; try again when it is done", RetryAfter: 2 * time.Second}

// errQueueFull answers an export that waited for a worker until its time ran out.
var errQueueFull = &apierr.Error{Status: http.StatusServiceUnavailable, Code: api.ErrorBodyCodeServiceUnavailable,
	Message: "every export worker is busy; try again shortly", RetryAfter: 5 * time.Second}

// Running is the number of renders in progress in this process (a render that the request
// gave up on counts until it has stopped).
func (h *Exports) Running() int64 { return h.running.Load() }

// render runs the renderer on one of the pool's workers, at most one per user. The work
// stops when ctx ends (the renderer polls it), and its slot is freed only then, so a
// request that gave up cannot leave work running beyond the pool's bound. A panic in the
// renderer is an error, never the process's end.
func (h *Exports) render(ctx context.Context, userID uuid.UUID, w io.Writer, format api.CreateExportRequestFormat, conv db.Conversation, msgs []db.Message, now time.Time) error {
	h.poolOnce.Do(func() {
		n := h.Workers
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		h.pool = make(chan struct{}, n)
		h.busy = map[uuid.UUID]bool{}
	})
	h.mu.Lock()
	if h.busy[userID] {
		h.mu.Unlock()
		return errBusy
	}
	h.busy[userID] = true
	h.mu.Unlock()
	release := func() {
		h.mu.Lock()
		delete(h.busy, userID)
		h.mu.Unlock()
	}
	select {
	case h.pool <- struct{}{}:
	case <-ctx.Done():
		release()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errQueueFull
		}
		return ctx.Err()
	}

	done := make(chan error, 1)
	out := &detachableWriter{w: w}
	h.running.Add(1)
	recovery.Go(ctx, h.Log, "render "+string(format)+" export", func() error {
		w := out
		switch format {
		case api.CreateExportRequestFormatPdf:
			return renderPDF(ctx, w, conv, currentBranch(msgs, conv.CurrentMessageID), now)
		case api.CreateExportRequestFormatMarkdown:
			return renderMarkdown(w, conv, currentBranch(msgs, conv.CurrentMessageID), now)
		default:
			// The whole tree: every message with its parent and siblings.
			am := chat.ToMessages(msgs)
			toConversation := chat.ToConversation
			if h.toConversation != nil {
				toConversation = h.toConversation
			}
			return renderJSON(w, toConversation(conv), am, now)
		}
	}, func(err error) {
		h.running.Add(-1)
		<-h.pool
		release()
		done <- err
	})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The renderer stops at its next check; until then it writes nowhere.
		out.detach()
		return ctx.Err()
	}
}

// detachableWriter lets the request stop a renderer's writes to the blob the moment it
// gives up, so that it can discard the blob while the renderer is still winding down.
type detachableWriter struct {
	mu       sync.Mutex
	w        io.Writer
	detached bool
}

func (d *detachableWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.detached {
		return 0, context.Canceled
	}
	return d.w.Write(p)
}

func (d *detachableWriter) detach() {
	d.mu.Lock()
	d.detached = true
	d.mu.Unlock()
}

// countingWriter counts what is written and refuses to write more than limit bytes (what
// is left of the storage quota), so that a render cannot fill the disk past it.
type countingWriter struct {
	w     io.Writer
	n     int64
	limit int64
	over  bool
}

var errOverQuota = errors.New("the export exceeds the storage quota")

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n+int64(len(p)) > c.limit {
		c.over = true
		return 0, errOverQuota
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// filename is the conversation's title made safe as a download name: path separators,
// characters Windows refuses and control characters (C0, DEL, C1) become "_", bidi
// controls are dropped (they can make "x\u202Efdp.exe" show as "xexe.pdf").
func filename(c db.Conversation, ext string) string {
	t := strings.Map(func(r rune) rune {
		switch {
		case unicode.Is(unicode.Bidi_Control, r):
			return -1
		case unicode.IsControl(r) || strings.ContainsRune(`/\:*?"<>|`, r):
			return '_'
		}
		return r
	}, c.Title)
	t = clip(strings.TrimSpace(t), 80)
	if t == "" {
		t = "conversation"
	}
	return t + "." + ext
}

func (h *Exports) get(ctx context.Context, id uuid.UUID) (db.Export, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return db.Export{}, err
	}
	e, err := h.Q.GetExport(ctx, h.DB, id, p.UserID)
	if database.IsNoRows(err) {
		return db.Export{}, apierr.ErrNotFound
	}
	return e, err
}

// ListExports pages through the user's exports, newest first.
func (h *Exports) ListExports(ctx context.Context, req api.ListExportsRequestObject) (api.ListExportsResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.Export, error) {
			params := db.ListExportsParams{UserID: p.UserID, PageSize: n}
			if after != nil {
				params.AfterID = &after.ID
			}
			return h.Q.ListExports(ctx, h.DB, params)
		},
		func(e db.Export) pagination.Position { return pagination.Position{ID: e.ID} }, toExport)
	if err != nil {
		return nil, err
	}
	return api.ListExports200JSONResponse{Items: items, NextCursor: next}, nil
}

// GetExport answers with an export's metadata.
func (h *Exports) GetExport(ctx context.Context, req api.GetExportRequestObject) (api.GetExportResponseObject, error) {
	e, err := h.get(ctx, req.ExportId)
	if err != nil {
		return nil, err
	}
	return api.GetExport200JSONResponse(toExport(e)), nil
}

// DownloadExport serves the exported file.
func (h *Exports) DownloadExport(ctx context.Context, req api.DownloadExportRequestObject) (api.DownloadExportResponseObject, error) {
	e, err := h.get(ctx, req.ExportId)
	if err != nil {
		return nil, err
	}
	blob, err := h.Store.Open(ctx, e.StorageKey)
	if err != nil {
		h.Log.ErrorContext(ctx, "an export's file is missing", slog.String("export_id", e.ID.String()), slog.Any("error", err))
		return nil, apierr.ErrNotFound
	}
	return download.Response{Req: download.Request(ctx), File: blob, ContentType: e.ContentType, Filename: e.Filename,
		SHA256: e.Sha256, Log: h.Log}, nil
}

// DeleteExport deletes the export and its file.
func (h *Exports) DeleteExport(ctx context.Context, req api.DeleteExportRequestObject) (api.DeleteExportResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	e, err := h.Q.DeleteExport(ctx, h.DB, req.ExportId, p.UserID)
	if database.IsNoRows(err) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := h.Store.Delete(ctx, e.StorageKey); err != nil {
		h.Log.ErrorContext(ctx, "delete an export's file", slog.String("export_id", e.ID.String()), slog.Any("error", err))
	}
	return api.DeleteExport204Response{}, nil
}

// DeleteUserData removes a deleted account's exports from disk.
func (h *Exports) DeleteUserData(ctx context.Context, userID uuid.UUID) error {
	return h.Store.DeletePrefix(ctx, userID.String())
}

// Sweep deletes export files that a crash left without a row.
func (h *Exports) Sweep(ctx context.Context) error {
	removed, err := storage.SweepOrphans(ctx, h.Store, func(ctx context.Context, key string) (bool, error) {
		return h.Q.ExportStorageKeyExists(ctx, h.DB, key)
	}, 10*time.Minute)
	if removed > 0 {
		h.Log.Warn("removed export files without a row", slog.Int("count", removed))
	}
	return err
}

// currentBranch is the branch a conversation shows, oldest first: the path from the root to
// its current message, out of all its messages (oldest first). Without a current message
// (none was ever set on these rows) every message is shown.
func currentBranch(msgs []db.Message, current *uuid.UUID) []db.Message {
	if current == nil {
		return msgs
	}
	byID := make(map[uuid.UUID]int, len(msgs))
	for i, m := range msgs {
		byID[m.ID] = i
	}
	var path []db.Message
	for id := current; id != nil && len(path) <= len(msgs); {
		i, ok := byID[*id]
		if !ok {
			break
		}
		path = append(path, msgs[i])
		id = msgs[i].ParentID
	}
	slices.Reverse(path)
	return path
}
