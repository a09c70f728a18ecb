package exports_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

// exportsStored counts export rows and the files in EXPORT_DIR (finished or not).
func exportsStored(t *testing.T, f *fixture) (rows, files int) {
	t.Helper()
	if err := f.env.Pool.QueryRow(t.Context(), "SELECT count(*) FROM exports").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(f.env.Config.ExportDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	return rows, files
}

func wantQuotaExceeded(t *testing.T, what string, r *apitest.Response) {
	t.Helper()
	if r.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeQuotaExceeded ||
		!strings.Contains(r.Envelope(t).Message, "quota") {
		t.Fatalf("%s: %d %s, want 429 quota_exceeded", what, r.StatusCode, r.Body)
	}
	if ra := r.Header.Get("Retry-After"); ra != "" {
		t.Errorf("%s: Retry-After %q on a storage quota", what, ra)
	}
}

// Exports and uploads share USER_STORAGE_QUOTA_BYTES: an upload counts the exports, an
// export counts the files, and an export that would cross the quota is refused with
// nothing stored.
func TestExportsCountTowardTheStorageQuota(t *testing.T) {
	t.Parallel()
	const quota = 20_000
	f := setup(t, func(c *config.Config) { c.UserStorageQuotaBytes = quota; c.MaxUploadBytes = quota })
	f.seed(t, strings.Repeat("question ", 200), strings.Repeat("answer ", 200))
	first, _ := f.export(t, "markdown")
	size := first.SizeBytes
	exportURL := "/api/v1/conversations/" + f.conv.Id.String() + "/exports"
	files := func() int {
		var n int
		if err := f.env.Pool.QueryRow(t.Context(), "SELECT count(*) FROM files").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Uploads count the exports: one byte more than what the export left is refused.
	wantQuotaExceeded(t, "an upload one byte over what the export left",
		f.env.Upload(f.token, "over.txt", bytes.Repeat([]byte("o"), int(quota-size+1))))
	if files() != 0 {
		t.Fatal("the refused upload was stored")
	}

	// Exports count the files: with half an export's size left, the next export is
	// refused, and neither its row nor its file is kept.
	filler := quota - size - size/2
	if r := f.env.Upload(f.token, "filler.txt", bytes.Repeat([]byte("f"), int(filler))); r.StatusCode != http.StatusCreated {
		t.Fatalf("filler upload: %d %s", r.StatusCode, r.Body)
	}
	wantQuotaExceeded(t, "an export larger than what is left", f.env.As(f.token, http.MethodPost, exportURL, map[string]any{"format": "markdown"}))
	if rows, stored := exportsStored(t, f); rows != 1 || stored != 1 {
		t.Fatalf("after the refused export: %d rows, %d files in EXPORT_DIR", rows, stored)
	}

	// At the quota exactly, nothing is rendered at all.
	if r := f.env.Upload(f.token, "rest.txt", bytes.Repeat([]byte("r"), int(size/2))); r.StatusCode != http.StatusCreated {
		t.Fatalf("an upload of exactly what is left: %d %s", r.StatusCode, r.Body)
	}
	for _, format := range []string{"markdown", "json", "pdf"} {
		wantQuotaExceeded(t, format+" export at the quota", f.env.As(f.token, http.MethodPost, exportURL, map[string]any{"format": format}))
	}
	if rows, stored := exportsStored(t, f); rows != 1 || stored != 1 {
		t.Fatalf("after the refused exports: %d rows, %d files in EXPORT_DIR", rows, stored)
	}
	wantQuotaExceeded(t, "an upload at the quota", f.env.Upload(f.token, "more.txt", []byte("x")))

	// Deleting makes room again.
	if r := f.env.As(f.token, http.MethodDelete, "/api/v1/exports/"+first.Id.String(), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	f.export(t, "markdown")

	// Another user has a quota of their own.
	eve := f.env.Register("eve@example.com", "correct horse battery").AccessToken
	var ec api.Conversation
	f.env.As(eve, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "eve"}).JSON(t, &ec)
	if r := f.env.As(eve, http.MethodPost, "/api/v1/conversations/"+ec.Id.String()+"/exports", map[string]any{"format": "markdown"}); r.StatusCode != http.StatusCreated {
		t.Errorf("another user's export: %d %s", r.StatusCode, r.Body)
	}
}
