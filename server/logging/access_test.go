package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"assistant/server/logging"
)

// The access line is the JSON logger's format: same keys, same order, and any string
// survives a round trip through a JSON parser, newlines and quotes included.
func TestAccessLineMatchesTheLogger(t *testing.T) {
	t.Parallel()
	nasty := "/x\n{\"level\":\"INFO\",\"msg\":\"forged\"}\r\t\x00\x1b[31m\u2028\xff é ✓"
	var viaSlog, direct bytes.Buffer
	ctx := logging.WithRequestID(t.Context(), "rid-1")
	logging.SetUserID(ctx, "uid-1")
	logging.New(&viaSlog, nil).LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("method", "GET"), slog.String("route", "unmatched"), slog.String("path", nasty),
		slog.Int("status", 404), slog.Float64("duration_ms", 1.234), slog.Int64("bytes", 99), slog.String("client_ip", "203.0.113.9"))
	logging.NewAccess(&direct, nil).Log(ctx, logging.Entry{Method: "GET", Route: "unmatched", Path: nasty, Status: 404,
		Duration: 1234 * time.Microsecond, Bytes: 99, ClientIP: "203.0.113.9"})

	strip := func(s string) string { return s[strings.Index(s, `"level"`):] } // the times differ
	if strip(viaSlog.String()) != strip(direct.String()) {
		t.Errorf("formats differ:\nslog:   %s\ndirect: %s", viaSlog.String(), direct.String())
	}
	if strings.Count(direct.String(), "\n") != 1 {
		t.Errorf("more than one line: %q", direct.String())
	}
	var m map[string]any
	if err := json.Unmarshal(direct.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["path"] != strings.ToValidUTF8(nasty, "\uFFFD") || m["request_id"] != "rid-1" || m["user_id"] != "uid-1" {
		t.Errorf("round trip: %v", m)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}

	var quiet bytes.Buffer
	logging.NewAccess(&quiet, slog.LevelWarn).Log(ctx, logging.Entry{Method: "GET"})
	if quiet.Len() != 0 {
		t.Error("LOG_LEVEL=warn still writes access lines")
	}
}

func TestAccessLineClipsLongPaths(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	a := logging.NewAccess(&buf, nil)
	long := "/api/v1/" + strings.Repeat("é", 50_000)
	a.Log(context.Background(), logging.Entry{Method: "GET", Path: long, Status: 414})
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %.200s", err, buf.String())
	}
	p := line["path"].(string)
	if len(p) > 2100 || !strings.HasSuffix(p, "…(100008 bytes)") || !utf8.ValidString(p) {
		t.Errorf("path logged as %d bytes ending %q", len(p), p[len(p)-30:])
	}
}
