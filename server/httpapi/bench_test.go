package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"assistant/server/httpapi"
	"assistant/server/logging"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/pgtest"
)

// BenchmarkRouter is the whole in-process cost of a request through the real handler (no
// network): an authenticated GET without database work, and a validated JSON POST that
// writes a row; and what a request with a bad token costs, with an empty body and with an
// 800 KB one (the same: credentials are decided before the body is read).
func BenchmarkRouter(b *testing.B) {
	pool, url := pgtest.New(b)
	cfg := apitest.Config()
	cfg.DatabaseURL = url
	cfg.UploadDir, cfg.ExportDir = b.TempDir(), b.TempDir()
	cfg.LogLevel = slog.LevelInfo
	cfg.RateLimitEnabled = false
	app, err := httpapi.New(httpapi.Deps{Config: cfg, Log: logging.New(io.Discard, cfg.LogLevel), LogWriter: io.Discard, Pool: pool, Version: "bench", Started: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	h := app.Handler
	rec := httptest.NewRecorder()
	reg := httptest.NewRequest(http.MethodPost, "/api/v1/auth/register",
		strings.NewReader(`{"email":"b@example.com","password":"correct horse battery"}`))
	reg.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, reg)
	token := between(rec.Body.String(), `"access_token":"`, `"`)
	if token == "" {
		b.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	large := `{"title":"Trip","system_prompt":"` + strings.Repeat("Be brief. ", 80_000) + `"}`
	for _, c := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"GET_models", "GET", "/api/v1/models", "", 200},
		{"POST_conversations", "POST", "/api/v1/conversations", `{"title":"Trip","system_prompt":"Be brief.","model":"echo"}`, 201},
		{"POST_conversations_invalid", "POST", "/api/v1/conversations", `{"title":"","owner":"eve","model":5}`, 422},
		{"POST_401_empty_body", "POST", "/api/v1/conversations", `{}`, 401},
		{"POST_401_800KB_body", "POST", "/api/v1/conversations", large, 401},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
				if c.status == http.StatusUnauthorized {
					req.Header.Set("Authorization", "Bearer not-a-valid-token")
				} else {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				if c.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != c.status {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

func between(s, a, z string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	return s[:strings.Index(s, z)]
}
