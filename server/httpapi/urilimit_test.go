package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/httpserver"
	"assistant/server/logging"
	"assistant/server/middleware"
	"assistant/server/services"
	"assistant/server/testutil/apitest"
)

// A request URI over 8 KiB is a 414 in the envelope on every operation (documented by each,
// which apitest checks), and one of exactly 8 KiB is not.
func TestLongURIIs414(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("uri@example.com", "correct horse battery").AccessToken
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	pad := func(path string, n int) string {
		u := path + "?pad="
		return u + strings.Repeat("a", n-len(u))
	}
	paths := spec.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		p := "/api/v1" + path
		for strings.Contains(p, "{") {
			a, b := strings.Index(p, "{"), strings.Index(p, "}")
			p = p[:a] + uuid.NewString() + p[b+1:]
		}
		for method := range spec.Paths.Value(path).Operations() {
			r := env.As(token, method, pad(p, middleware.MaxURIBytes+1), nil)
			if r.StatusCode != http.StatusRequestURITooLong || r.Envelope(t).Code != api.ErrorBodyCodeUriTooLong {
				t.Errorf("%s %s: %d %s", method, path, r.StatusCode, r.Body)
			}
		}
	}
	if r := env.As(token, http.MethodGet, pad("/api/v1/models", middleware.MaxURIBytes), nil); r.StatusCode != http.StatusOK {
		t.Errorf("a URI of exactly %d bytes: %d %s", middleware.MaxURIBytes, r.StatusCode, r.Body)
	}
	// Paths the spec does not have get it too.
	if r := env.Call(http.MethodGet, pad("/nowhere", middleware.MaxURIBytes+1), nil); r.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("unknown path: %d", r.StatusCode)
	}
}

// With the server's own header limit (httpserver.MaxHeaderBytes), a URI far over 8 KiB
// still reaches the API's check, and headers as large as nginx forwards are read; only past
// the limit does net/http answer for itself (a plain-text 431).
func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	srv := httpserver.New(services.HTTPServer(env.Config), env.Handler, logging.Discard())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	raw := func(uri string, headerBytes int) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var b strings.Builder
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", uri)
		for i := 0; headerBytes > 0; i++ {
			v := strings.Repeat("v", min(headerBytes, 8000))
			fmt.Fprintf(&b, "X-Pad-%d: %s\r\n", i, v)
			headerBytes -= len(v)
		}
		b.WriteString("\r\n")
		go func() { _, _ = io.WriteString(c, b.String()) }()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type")
	}
	long := func(n int) string { return "/api/v1/models?pad=" + strings.Repeat("a", n-len("/api/v1/models?pad=")) }
	for _, c := range []struct {
		uri         string
		headerBytes int
		status      int
		json        bool
	}{
		{long(16 << 10), 0, http.StatusRequestURITooLong, true},
		{long(100 << 10), 0, http.StatusRequestURITooLong, true},
		{"/api/v1/health/live", 80 << 10, http.StatusOK, true}, // more than nginx forwards
		{long(16 << 10), 80 << 10, http.StatusRequestURITooLong, true},
		{long(httpserver.MaxHeaderBytes + 8<<10), 0, http.StatusRequestHeaderFieldsTooLarge, false},
	} {
		got, ct := raw(c.uri, c.headerBytes)
		if got != c.status || (strings.HasPrefix(ct, "application/json") != c.json) {
			t.Errorf("URI of %d bytes, %d bytes of headers: %d %q, want %d", len(c.uri), c.headerBytes, got, ct, c.status)
		}
	}
}
