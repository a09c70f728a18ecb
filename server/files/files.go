// Package files implements the files operations: uploads streamed to disk under
// server-made names with their type decided from the content, listing, metadata,
// downloads and deletion; and reading a file's text for the model.
package files

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/metrics"
	"assistant/server/storage"
)

// Files implements the files operations.
type Files struct {
	DB    database.DB
	Q     *db.Queries
	Store storage.Store
	// MaxUpload limits a file's own bytes (not the multipart envelope).
	MaxUpload int64
	// Quota limits what one user's files and exports take together.
	Quota int64
	// PerUser caps one user's uploads in progress at once in this process (0: no cap).
	PerUser int
	// TextLimits bound reading a file's text for the model (zero: the defaults).
	TextLimits TextLimits
	// Metrics count the bytes stored (nil: not counted).
	Metrics *metrics.Metrics
	Log     *slog.Logger

	texts texts

	mu        sync.Mutex
	uploading map[uuid.UUID]int // uploads in progress per user
}

// Allowed are the types an upload may have, decided from the content.
var Allowed = []string{"text/plain", "text/markdown", "text/csv", "application/json", "application/pdf", "image/png", "image/jpeg", "image/webp"}

// TextLike reports whether the model can read the type as text directly.
func TextLike(ct string) bool {
	return strings.HasPrefix(ct, "text/") || ct == "application/json"
}

// detectType decides the type from the first bytes; the name's extension only tells text
// formats apart. An HTML page named photo.png is HTML, and refused.
func detectType(head []byte, name string) (string, bool) {
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	switch mt {
	case "image/png", "image/jpeg", "image/webp", "application/pdf":
		return mt, true
	case "text/plain":
		switch strings.ToLower(path.Ext(name)) {
		case ".md", ".markdown":
			return "text/markdown", true
		case ".csv":
			return "text/csv", true
		case ".json":
			return "application/json", true
		}
		return "text/plain", true
	}
	return mt, false
}

// CleanFilename keeps a client's filename as metadata: no directories (either slash), no
// control characters, valid UTF-8, at most 255 bytes. It is never used to build a path.
func CleanFilename(raw string) string {
	raw = strings.ToValidUTF8(raw, "")
	if i := strings.LastIndexAny(raw, `/\`); i >= 0 {
		raw = raw[i+1:]
	}
	raw = strings.Map(func(r rune) rune {
		// Bidi controls too: "invoice\u202Efdp.exe" lists as "invoiceexe.pdf".
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, raw)
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == "." || raw == ".." {
		return "file"
	}
	for len(raw) > 255 {
		_, size := utf8.DecodeLastRuneInString(raw)
		raw = raw[:len(raw)-size]
	}
	return strings.TrimRightFunc(raw, unicode.IsSpace) // the cut may end on a space
}

func toFile(f db.File) api.File {
	return api.File{Id: f.ID, Filename: f.Filename, ContentType: f.ContentType, SizeBytes: f.SizeBytes, Sha256: f.Sha256, CreatedAt: f.CreatedAt}
}

func (h *Files) get(ctx context.Context, id uuid.UUID) (db.File, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return db.File{}, err
	}
	f, err := h.Q.GetFile(ctx, h.DB, id, p.UserID)
	if database.IsNoRows(err) {
		return db.File{}, apierr.ErrNotFound
	}
	return f, err
}

func storageKey(userID, id uuid.UUID) string { return userID.String() + "/" + id.String() }

func hexSum(b []byte) string { return hex.EncodeToString(b) }

// DeleteUserData removes a deleted account's files from disk (the rows went with it).
func (h *Files) DeleteUserData(ctx context.Context, userID uuid.UUID) error {
	if err := h.Store.DeletePrefix(ctx, userID.String()); err != nil {
		return fmt.Errorf("delete files of %s: %w", userID, err)
	}
	return nil
}
