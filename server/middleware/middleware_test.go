package middleware_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"assistant/server/logging"
	"assistant/server/middleware"
)

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func TestPanicBecomes500Envelope(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := logging.New(&logs, nil)
	h := middleware.RequestID(middleware.AccessLog(logging.NewAccess(&logs, nil))(middleware.Recover(log)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internal detail")
	}))))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	var body struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if body.Error.Code != "internal_error" || strings.Contains(rec.Body.String(), "secret") ||
		body.Error.RequestID != rec.Header().Get("X-Request-ID") {
		t.Errorf("body %s", rec.Body)
	}
	ls := lines(t, &logs)
	var panics, access int
	for _, l := range ls {
		if l["request_id"] != rec.Header().Get("X-Request-ID") {
			t.Errorf("line without the request id: %v", l)
		}
		switch l["msg"] {
		case "panic":
			panics++
			if !strings.Contains(l["stack"].(string), "middleware_test.go") || l["level"] != "ERROR" {
				t.Errorf("panic line %v", l)
			}
		case "request":
			access++
			if l["status"] != float64(500) {
				t.Errorf("access line %v", l)
			}
		}
	}
	if panics != 1 || access != 1 {
		t.Errorf("%d panic lines and %d access lines, want 1 and 1:\n%s", panics, access, logs.String())
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.5:4321", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:4321", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted proxy", "10.0.0.2:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"rightmost untrusted wins", "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"proxy chain", "10.0.0.2:80", []string{"198.51.100.7, 10.0.0.9"}, "198.51.100.7"},
		{"several headers", "10.0.0.2:80", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"garbage stops the chain", "10.0.0.2:80", []string{"198.51.100.7, nonsense"}, "10.0.0.2"},
		{"only proxies", "10.0.0.2:80", []string{"10.1.1.1"}, "10.1.1.1"},
		{"ipv6 peer", "[::1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped ipv4", "[::ffff:203.0.113.5]:1", nil, "203.0.113.5"},
	}
	for _, c := range cases {
		var got netip.Addr
		h := middleware.ClientAddress(trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = middleware.ClientIP(r.Context())
		}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.remote
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got.String() != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
