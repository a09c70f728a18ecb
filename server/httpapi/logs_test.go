package httpapi_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

// A newline or quote in a path or body cannot forge or break a log line, and every line
// written while serving a request carries that request's id.
func TestLogLinesCannotBeForged(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	forged := `{"level":"INFO","msg":"login ok","user_id":"admin"}`
	env.Call(http.MethodGet, "/api/v1/x%0A"+strings.ReplaceAll(forged, `"`, "%22")+"%0D%0A", nil)
	env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "a@b.co\n" + forged, "password": "pw-marker\"\n" + forged})
	env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": "pw-marker\n" + forged})

	lines := env.Logs.Lines(t)
	if len(lines) < 4 {
		t.Fatalf("only %d lines", len(lines))
	}
	for _, l := range lines {
		if l["msg"] == "login ok" {
			t.Errorf("a forged line got in: %v", l)
		}
		if id, _ := l["request_id"].(string); id == "" {
			t.Errorf("line without request_id: %v", l)
		}
	}
	if strings.Contains(env.Logs.String(), "pw-marker") {
		t.Error("a password reached the log")
	}
}

func TestLogLevelFilters(t *testing.T) {
	t.Parallel()
	quiet := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.LogLevel = slog.LevelWarn }))
	quiet.Call(http.MethodGet, "/api/v1/health", nil)
	if s := quiet.Logs.String(); s != "" {
		t.Errorf("LOG_LEVEL=warn still logs requests:\n%s", s)
	}
	loud := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.LogLevel = slog.LevelInfo }))
	loud.Call(http.MethodGet, "/api/v1/health", nil)
	lines := loud.Logs.Lines(t)
	if len(lines) != 1 || lines[0]["msg"] != "request" || lines[0]["route"] != "/api/v1/health" ||
		lines[0]["method"] != "GET" || lines[0]["status"] != float64(200) || lines[0]["client_ip"] != "127.0.0.1" {
		t.Errorf("access line: %v", lines)
	}
	for _, k := range []string{"duration_ms", "bytes", "request_id"} {
		if _, ok := lines[0][k]; !ok {
			t.Errorf("access line without %s", k)
		}
	}
}
