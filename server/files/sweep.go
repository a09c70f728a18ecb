package files

import (
	"context"
	"log/slog"
	"time"

	"assistant/server/storage"
)

// Sweep runs at start-up: it deletes bytes that a crash left without a row, and reports
// rows whose bytes are missing (they cannot be restored; the log says which).
func (h *Files) Sweep(ctx context.Context) error {
	removed, err := storage.SweepOrphans(ctx, h.Store, func(ctx context.Context, key string) (bool, error) {
		return h.Q.FileStorageKeyExists(ctx, h.DB, key)
	}, 10*time.Minute)
	if removed > 0 {
		h.Log.Warn("removed uploaded bytes without a row", slog.Int("count", removed))
	}
	if err != nil {
		return err
	}
	rows, err := h.Q.AllFileStorageKeys(ctx, h.DB)
	if err != nil {
		return err
	}
	for _, r := range rows {
		f, err := h.Store.Open(ctx, r.StorageKey)
		if err != nil {
			h.Log.Error("a file's bytes are missing", slog.String("file_id", r.ID.String()), slog.Any("error", err))
			continue
		}
		f.Close()
	}
	return nil
}
