package middleware_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"

	"assistant/server/logging"
	"assistant/server/metrics"
	"assistant/server/middleware"
	"assistant/server/tracing"
)

// BenchmarkObserve is the request pipeline around a trivial routed handler with metrics
// and tracing off, with metrics on, and tracing 10 % of requests (spans exported in batches
// to a receiver that discards them): the in-process cost of observability per request.
func BenchmarkObserve(b *testing.B) {
	discard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer discard.Close()
	ops := map[string]string{"GET /api/v1/models": "listModels"}
	traces, err := tracing.New(tracing.Config{Endpoint: discard.URL, SampleRatio: 0.1, ServiceName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = traces.Shutdown(b.Context()) }()
	for _, c := range []struct {
		name    string
		metrics *metrics.Metrics
		tracer  trace.Tracer
	}{
		{"off", nil, nil},
		{"metrics", metrics.New(metrics.Config{Version: "bench"}), nil},
		{"traces10", nil, traces.Tracer()},
	} {
		b.Run(c.name, func(b *testing.B) {
			log := logging.New(io.Discard, slog.LevelInfo)
			root := chi.NewRouter()
			root.Use(middleware.RequestID, middleware.AccessLog(logging.NewAccess(io.Discard, nil)),
				middleware.Observe(c.metrics, c.tracer, ops), middleware.Recover(log))
			root.Get("/api/v1/models", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"ok":true}`))
			})
			req := httptest.NewRequest(http.MethodGet, "/api/v1/models", nil)
			b.ReportAllocs()
			for b.Loop() {
				root.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
