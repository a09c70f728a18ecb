package ratelimit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"assistant/gen/api"
	"assistant/server/logging"
	"assistant/server/middleware"
	"assistant/server/ratelimit"
)

// BenchmarkMemoryLimiter is the per-address check of an auth request, over 10,000 clients.
func BenchmarkMemoryLimiter(b *testing.B) {
	spec, err := api.GetSpec()
	if err != nil {
		b.Fatal(err)
	}
	cfg := ratelimit.Config{Enabled: true, Requests: 1 << 30, GlobalRequests: 1 << 30, Window: time.Minute, IPv6Prefix: 64}
	l, err := ratelimit.New(cfg, spec, "/api/v1", func(string) bool { return true }, logging.New(io.Discard, nil))
	if err != nil {
		b.Fatal(err)
	}
	// The limiter tells operations by the route chi matched, so it runs behind a router.
	router := chi.NewRouter()
	router.With(l.Middleware).Post("/api/v1/auth/login", func(w http.ResponseWriter, r *http.Request) {})
	h := middleware.ClientAddress(nil)(router)
	reqs := make([]*http.Request, 10000)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodPost, "/api/v1/auth/login", nil)
		reqs[i].RemoteAddr = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() + ":1"
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), reqs[i%len(reqs)])
		i++
	}
}
