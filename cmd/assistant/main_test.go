package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"assistant/server/system"
	"assistant/server/testutil/logtest"
	"assistant/server/testutil/pgtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// Two migrations at once on an empty database both succeed and apply the schema once.
func TestMigrateTwiceAtOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	getenv := envOf(map[string]string{"DATABASE_URL": url})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = run(context.Background(), []string{"migrate"}, getenv, io.Discard, io.Discard) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions, distinct int
	if err := conn.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&versions, &distinct); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || versions != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions", versions, distinct)
	}
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(new(int)); err != nil {
		t.Errorf("schema not applied: %v", err)
	}
	// And again, with nothing to do.
	if err := run(context.Background(), []string{"migrate"}, getenv, io.Discard, io.Discard); err != nil {
		t.Errorf("migrate with nothing to do: %v", err)
	}
}

// On SIGTERM (the context ends) the listener closes at once, the request in flight still
// gets its answer, and serve returns nil (exit 0).
func TestGracefulShutdownWithARequestInFlight(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.New(t)
	addr := freeAddr(t)
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	stdout := &logtest.Buffer{} // the server's stdout, read while it runs
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, envOf(map[string]string{
			"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "SHUTDOWN_TIMEOUT": "10s", "LOG_LEVEL": "info",
			"ARGON2_MEMORY_KIB": "8192", "ARGON2_TIME": "1", "UPLOAD_DIR": t.TempDir(), "EXPORT_DIR": t.TempDir(),
		}), stdout, io.Discard)
	}()
	base := "http://" + addr + "/api/v1"
	waitReady(t, base+"/health/live")

	// A request in flight: the server is reading a body the client has not finished.
	pr, pw := io.Pipe()
	body := `{"email":"nobody@example.com","password":"correct horse battery"}`
	type result struct {
		status int
		err    error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/auth/login", pr)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(body))
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		resp.Body.Close()
		got <- result{status: resp.StatusCode}
	}()
	if _, err := pw.Write([]byte(body[:10])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server start reading

	sigterm()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stdout.String(), "shutting down") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("serve returned before the request in flight finished: %v", err)
	default:
	}

	if _, err := pw.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-got
	if r.err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("request in flight: status %d, err %v", r.status, r.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
	if !strings.Contains(stdout.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", stdout.String())
	}
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.New(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	getenv := envOf(map[string]string{"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "UPLOAD_DIR": t.TempDir(), "EXPORT_DIR": t.TempDir()})
	go func() { done <- run(ctx, []string{"serve"}, getenv, io.Discard, io.Discard) }()
	waitReady(t, "http://"+addr+"/api/v1/health/live")

	if err := run(context.Background(), []string{"healthcheck"}, getenv, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck against a healthy server: %v", err)
	}
	cancel()
	<-done
	err := run(context.Background(), []string{"healthcheck", "--timeout", "1s"}, getenv, io.Discard, io.Discard)
	if err == nil {
		t.Error("healthcheck passed with the server gone")
	}
}

func TestConfigErrorsExitTwo(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve"}, envOf(map[string]string{"APP_ENV": "production", "LOG_LEVEL": "loud"}), io.Discard, io.Discard)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("err = %v", err)
	}
	for _, name := range []string{"DATABASE_URL", "LOG_LEVEL", "JWT_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%s not named: %v", name, err)
		}
	}
}

// Not parallel: it sets the stamped version, which the other tests read.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	old := version
	version = "1.2.3"
	defer func() { version = old }()
	if err := run(context.Background(), []string{"version"}, envOf(nil), &out, io.Discard); err != nil || out.String() != "1.2.3 (API "+system.APIVersion()+")\n" {
		t.Errorf("version: %q %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"bogus"}, envOf(nil), io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
}

// A stream outlives the server's write timeout, and on SIGTERM an open stream gets its
// final event before the server stops.
func TestStreamsOutliveWriteTimeoutAndGetAFinalEventOnShutdown(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.New(t)
	addr := freeAddr(t)
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, envOf(map[string]string{
			"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "SHUTDOWN_TIMEOUT": "5s", "HTTP_WRITE_TIMEOUT": "1s",
			"ECHO_DELAY": "250ms", "ARGON2_MEMORY_KIB": "8192", "ARGON2_TIME": "1",
			"UPLOAD_DIR": t.TempDir(), "EXPORT_DIR": t.TempDir(),
		}), io.Discard, io.Discard)
	}()
	base := "http://" + addr + "/api/v1"
	waitReady(t, base+"/health/live")
	post := func(path, token, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var s struct {
		AccessToken string `json:"access_token"`
	}
	r := post("/auth/register", "", `{"email":"a@example.com","password":"correct horse battery"}`)
	_ = json.NewDecoder(r.Body).Decode(&s)
	r.Body.Close()
	var c struct {
		ID string `json:"id"`
	}
	r = post("/conversations", s.AccessToken, `{}`)
	_ = json.NewDecoder(r.Body).Decode(&c)
	r.Body.Close()

	// The echo reply has ~15 words at 250 ms each: well past the 1 s write timeout (which
	// still leaves registering, an argon2 hash under the race detector, time to answer).
	resp := post("/conversations/"+c.ID+"/messages/stream", s.AccessToken, `{"content":"one two three"}`)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	deltas := 0
	next := func() string {
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				return ev
			}
		}
		return ""
	}
	for deltas < 6 {
		switch ev := next(); ev {
		case "delta":
			deltas++
		case "message":
		default:
			t.Fatalf("stream ended early with %q after %d deltas (write timeout?)", ev, deltas)
		}
	}
	sigterm()
	final := ""
	for ev := next(); ev != ""; ev = next() {
		final = ev
	}
	if final != "done" {
		t.Errorf("the stream's last event on shutdown: %q", final)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// The synchronous send answers when the reply is complete, even past the server's write
// timeout (the connection used to be closed by it, the answer lost).
func TestSyncSendOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.New(t)
	addr := freeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, envOf(map[string]string{
			"DATABASE_URL": dbURL, "HTTP_ADDR": addr, "HTTP_WRITE_TIMEOUT": "1s",
			"ECHO_DELAY": "150ms", "ARGON2_MEMORY_KIB": "8192", "ARGON2_TIME": "1",
			"UPLOAD_DIR": t.TempDir(), "EXPORT_DIR": t.TempDir(),
		}), io.Discard, io.Discard)
	}()
	defer func() {
		stop()
		<-done
	}()
	base := "http://" + addr + "/api/v1"
	waitReady(t, base+"/health/live")
	post := func(path, token, body string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	var s struct {
		AccessToken string `json:"access_token"`
	}
	_, b := post("/auth/register", "", `{"email":"a@example.com","password":"correct horse battery"}`)
	_ = json.Unmarshal(b, &s)
	var c struct {
		ID string `json:"id"`
	}
	_, b = post("/conversations", s.AccessToken, `{}`)
	_ = json.Unmarshal(b, &c)
	// ~15 words at 150 ms: over 2 s, twice the write timeout.
	start := time.Now()
	resp, b := post("/conversations/"+c.ID+"/messages", s.AccessToken, `{"content":"one two three"}`)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"status":"complete"`) {
		t.Fatalf("after %s: %d %s", time.Since(start), resp.StatusCode, b)
	}
}
