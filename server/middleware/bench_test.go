package middleware_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"assistant/server/logging"
	"assistant/server/middleware"
)

// BenchmarkChain is the middleware every request passes, around a trivial handler.
func BenchmarkChain(b *testing.B) {
	log := logging.New(io.Discard, slog.LevelInfo)
	h := middleware.RequestID(middleware.ClientAddress([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})(
		middleware.AccessLog(logging.NewAccess(io.Discard, nil))(middleware.Recover(log)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		})))))
	req := httptest.NewRequest(http.MethodGet, "/api/v1/models", nil)
	req.RemoteAddr = "10.0.0.2:1234"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// BenchmarkAccessLogLine is one access-log line, written directly and (for comparison)
// through the JSON logger.
func BenchmarkAccessLogLine(b *testing.B) {
	ctx := logging.WithRequestID(b.Context(), "0b7d5a0e-8f3c-4b8e-9a53-1f1d8e0b6c2a")
	b.Run("direct", func(b *testing.B) {
		a := logging.NewAccess(io.Discard, nil)
		e := logging.Entry{Method: "GET", Route: "/api/v1/models", Path: "/api/v1/models", Status: 200, Duration: 123 * time.Microsecond, Bytes: 42, ClientIP: "203.0.113.9"}
		b.ReportAllocs()
		for b.Loop() {
			a.Log(ctx, e)
		}
	})
	b.Run("slog", func(b *testing.B) {
		log := logging.New(io.Discard, slog.LevelInfo)
		b.ReportAllocs()
		for b.Loop() {
			log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("method", "GET"), slog.String("route", "/api/v1/models"), slog.String("path", "/api/v1/models"),
				slog.Int("status", 200), slog.Float64("duration_ms", 0.123), slog.Int64("bytes", 42), slog.String("client_ip", "203.0.113.9"))
		}
	})
}
