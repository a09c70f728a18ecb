package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"assistant/server/testutil/fakeopenai"
)

// The real server behind the real nginx, with nginx/nginx.conf.
func TestThroughNginx(t *testing.T) {
	bin := assistantBinary(t)
	dbURL, _, _ := postgres(t)
	fake := fakeopenai.New(t)
	apiPort := freePort(t)
	data := t.TempDir()
	env := baseEnv(dbURL, apiPort,
		"LLM_PROVIDER=openai", "LLM_BASE_URL="+fake.BaseURL(), "LLM_MODEL=fake-model", "LLM_TIMEOUT=30s",
		"DOCS_ENABLED=true", "TRUSTED_PROXIES=127.0.0.1", "RATE_LIMIT_BACKEND=memory", "RATE_LIMIT_AUTH_REQUESTS=3",
		"UPLOAD_DIR="+data+"/uploads", "EXPORT_DIR="+data+"/exports")
	migrate := exec.Command(bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	api := start(t, false, data, env, bin, "serve")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/api/v1/health/live", apiPort))
	base := nginxFor(t, apiPort)

	t.Run("security headers once, on success and on errors", func(t *testing.T) {
		ok := do(t, "GET", base+"/api/v1/health", nil)
		if ok.status != 200 {
			t.Fatalf("health through nginx: %d %s", ok.status, ok.body)
		}
		headersOnce(t, "200", ok.header, true)
		missing := do(t, "GET", base+"/api/v1/nope", nil)
		headersOnce(t, "app 404", missing.header, true)
		if envelope(t, "app 404", missing) != "not_found" {
			t.Error("app 404 code")
		}
		unauth := do(t, "GET", base+"/api/v1/users/me", nil)
		headersOnce(t, "app 401", unauth.header, true)
		docs := do(t, "GET", base+"/api/v1/docs", nil)
		headersOnce(t, "docs", docs.header, true)
		if csp := docs.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sha256-") {
			t.Errorf("the docs page lost its own CSP: %q", csp)
		}
	})

	t.Run("an oversize upload gets nginx's 413 as the envelope", func(t *testing.T) {
		body := bytes.Repeat([]byte("x"), 27<<20)
		r := do(t, "POST", base+"/api/v1/files", bytes.NewReader(body), "Content-Type", "multipart/form-data; boundary=b")
		if r.status != http.StatusRequestEntityTooLarge || envelope(t, "413", r) != "payload_too_large" {
			t.Fatalf("oversize upload: %d %s", r.status, r.body)
		}
		headersOnce(t, "413", r.header, true)
	})

	t.Run("nginx's refusals are the envelope with the security headers once", func(t *testing.T) {
		for _, c := range []struct {
			what   string
			raw    string // sent as it is, for what Go's client will not send
			url    string
			header []string
			status int
			code   string
			says   string // in the message: whose answer it is
		}{
			// nginx's 400: HTTP/1.1 without Host.
			{what: "400", raw: "GET /api/v1/health HTTP/1.1\r\nConnection: close\r\n\r\n", status: 400, code: "bad_request", says: "malformed"},
			// nginx's 400: a request line it cannot parse.
			{what: "400, no request line", raw: "NOT HTTP\r\n\r\n", status: 400, code: "bad_request", says: "malformed"},
			// nginx's 494: a header line longer than its 16 KiB buffer, answered as 400.
			{what: "494", url: base + "/api/v1/health", header: []string{"X-Pad", strings.Repeat("a", 20<<10)}, status: 400, code: "bad_request", says: "headers are larger"},
			// nginx's 414: a request line longer than its 16 KiB buffer.
			{what: "414 from nginx", url: base + "/api/v1/models?pad=" + strings.Repeat("a", 20<<10), status: 414, code: "uri_too_long", says: "than this server accepts"},
			// The internal URIs of those answers are not reachable.
			{what: "404 from nginx", url: base + "/.nginx/400", status: 404, code: "not_found", says: "not found"},
			// Between the api's 8 KiB and nginx's 16 KiB: the api's own 414.
			{what: "414 from the api", url: base + "/api/v1/models?pad=" + strings.Repeat("a", 12<<10), status: 414, code: "uri_too_long", says: "8192 bytes"},
		} {
			var r response
			if c.raw != "" {
				r = rawRequest(t, strings.TrimPrefix(base, "http://"), c.raw)
			} else {
				r = do(t, "GET", c.url, nil, c.header...)
			}
			if r.status != c.status || envelope(t, c.what, r) != c.code || !bytes.Contains(r.body, []byte(c.says)) {
				t.Errorf("%s: %d %s", c.what, r.status, r.body)
			}
			headersOnce(t, c.what, r.header, true)
		}
	})

	t.Run("a forged X-Forwarded-For does not move the rate-limit key", func(t *testing.T) {
		limited := 0
		for i := 0; i < 6; i++ {
			r := do(t, "POST", base+"/api/v1/auth/login",
				bytes.NewReader([]byte(fmt.Sprintf(`{"email":"u%d@example.com","password":"wrong password"}`, i))),
				"Content-Type", "application/json", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
			if r.status == http.StatusTooManyRequests {
				limited++
				headersOnce(t, "429", r.header, true)
			}
		}
		if limited != 3 {
			t.Errorf("%d of 6 attempts limited with a limit of 3", limited)
		}
		if !strings.Contains(api.out.String(), `"client_ip":"127.0.0.1"`) || strings.Contains(api.out.String(), `"client_ip":"203.0.113.`) {
			t.Error("the api keyed on a forged address")
		}
	})

	t.Run("a stream arrives event by event", func(t *testing.T) {
		reg := do(t, "POST", base+"/api/v1/auth/register", jsonBody(map[string]string{"email": "s@example.com", "password": "correct horse battery"}),
			"Content-Type", "application/json", "X-Forwarded-For", "198.51.100.1")
		var s struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(reg.body, &s)
		if s.AccessToken == "" {
			t.Fatalf("register: %d %s", reg.status, reg.body)
		}
		conv := do(t, "POST", base+"/api/v1/conversations", jsonBody(map[string]string{}), "Content-Type", "application/json", "Authorization", "Bearer "+s.AccessToken)
		var c struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(conv.body, &c)

		step := make(chan struct{})
		fake.Set(fakeopenai.Behavior{Chunks: []string{"one ", "two ", "three"}, Step: step})
		req, _ := http.NewRequest("POST", base+"/api/v1/conversations/"+c.ID+"/messages/stream", jsonBody(map[string]string{"content": "count"}))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.AccessToken)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("stream headers through nginx: %v", resp.Header)
		}
		events := make(chan [2]string, 16)
		go readEvents(resp.Body, events)
		next := func(want string) {
			t.Helper()
			select {
			case ev := <-events:
				if ev[0] != want {
					t.Fatalf("got event %s, want %s", ev[0], want)
				}
			case <-time.After(10 * time.Second):
				// The provider is waiting for us: only a buffering proxy gets here.
				t.Fatalf("event %s held back by the proxy", want)
			}
		}
		next("message")
		next("delta") // "one ": the provider sends "two " only after this arrived
		step <- struct{}{}
		next("delta")
		step <- struct{}{}
		next("delta")
		step <- struct{}{}
		next("done")
	})

	t.Run("the docs page renders in a browser without CSP violations", func(t *testing.T) {
		chromium, err := exec.LookPath("chromium")
		if err != nil {
			t.Fatal("chromium is not installed (scripts/e2e.sh installs it)")
		}
		profile := t.TempDir()
		cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
			"--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", base+"/api/v1/docs")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
		dom := stdout.String()
		for _, op := range []string{"/auth/login", "/conversations/{conversation_id}/messages/stream", "/files"} {
			if !strings.Contains(dom, op) {
				t.Errorf("the rendered docs lack %s", op)
			}
		}
		if !strings.Contains(dom, "opblock") {
			t.Error("no operation list rendered")
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to") {
				t.Errorf("CSP violation: %s", line)
			}
		}
		if t.Failed() {
			_ = os.WriteFile(profile+"/dom.html", stdout.Bytes(), 0o600)
		}
	})

	t.Run("the api down is a 503 envelope from nginx", func(t *testing.T) {
		_ = api.cmd.Process.Signal(os.Interrupt)
		_, _ = api.cmd.Process.Wait()
		r := do(t, "GET", base+"/api/v1/health", nil)
		if r.status != http.StatusServiceUnavailable || envelope(t, "api down", r) != "service_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("api down: %d %s", r.status, r.body)
		}
		headersOnce(t, "503", r.header, true)
	})
}

// rawRequest writes req to addr as it is and reads the response.
func rawRequest(t *testing.T, addr, req string) response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}
