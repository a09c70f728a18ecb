package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// assistantBinary builds bin/assistant with `make build`, the Dockerfile's build command.
func assistantBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("make", "-C", "..", "build").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make build: %v\n%s", err, out)
			return
		}
		binary, buildErr = filepath.Abs("../bin/assistant")
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// postgres starts a private cluster for the test and returns its URL and a stop function
// (also run at cleanup).
func postgres(t *testing.T) (url string, stop func(), start func()) {
	t.Helper()
	dir := openDir(t)
	port := freePort(t)
	start = func() {
		if out, err := exec.Command("../scripts/postgres.sh", "start", dir, fmt.Sprint(port), "fast").CombinedOutput(); err != nil {
			t.Fatalf("start postgres: %v\n%s", err, out)
		}
	}
	stop = func() { _ = exec.Command("../scripts/postgres.sh", "stop", dir).Run() }
	start()
	t.Cleanup(stop)
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/assistant?sslmode=disable", port), stop, start
}

// openDir is a temporary directory other users (postgres, nginx's workers, uid 65532) can
// enter: t.TempDir's parent is private to root.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	return dir
}

func secret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type process struct {
	cmd *exec.Cmd
	out *syncBuffer
}

// run starts a command (as uid 65532 when nonRoot), ended with SIGTERM at cleanup.
func start(t *testing.T, nonRoot bool, dir string, env []string, name string, args ...string) *process {
	t.Helper()
	if nonRoot {
		args = append([]string{"--reuid=65532", "--regid=65532", "--clear-groups", name}, args...)
		name = "setpriv"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: out}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return p
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

func baseEnv(dbURL string, port int, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"APP_ENV=production",
		"HTTP_ADDR=127.0.0.1:" + fmt.Sprint(port),
		"DATABASE_URL=" + dbURL,
		"JWT_SECRET=" + secret(),
		"LLM_PROVIDER=echo", "LLM_ALLOW_ECHO=true", "ECHO_DELAY=0s",
		"ARGON2_MEMORY_KIB=8192", "ARGON2_TIME=1",
		// Production defaults to invitations; these checks sign up as a stranger would on an
		// open installation.
		"REGISTRATION_MODE=open",
	}, extra...)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// The binary built as the Dockerfile builds it runs as a numeric non-root user from a
// directory it cannot write: migrate, serve, healthcheck (exit 0), and healthcheck exit 1
// once the database is gone.
func TestBinaryRunsAsNonRoot(t *testing.T) {
	bin := assistantBinary(t)
	image := openDir(t) // root-owned: read-only for uid 65532, like the image's root filesystem
	if err := exec.Command("cp", bin, filepath.Join(image, "assistant")).Run(); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(image, "assistant")
	data := openDir(t)
	for _, d := range []string{"uploads", "exports"} {
		p := filepath.Join(data, d)
		_ = os.MkdirAll(p, 0o750)
		_ = os.Chown(p, 65532, 65532)
	}
	dbURL, stopDB, _ := postgres(t)
	port := freePort(t)
	env := baseEnv(dbURL, port, "UPLOAD_DIR="+data+"/uploads", "EXPORT_DIR="+data+"/exports", "RATE_LIMIT_BACKEND=memory")

	migrate := exec.Command("setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", bin, "migrate")
	migrate.Dir, migrate.Env = image, env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate as 65532: %v\n%s", err, out)
	}
	srv := start(t, true, image, env, bin, "serve")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/api/v1/health/live", port))

	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
	// setpriv execs the binary in place, so the PID is the server's.
	if !strings.Contains(string(status), "Uid:\t65532\t65532\t65532\t65532") {
		t.Errorf("the server does not run as 65532:\n%s", status)
	}
	if err := os.WriteFile(filepath.Join(image, "probe"), nil, 0o600); err != nil {
		t.Fatal(err) // root can; the point is that 65532 cannot:
	}
	probe := exec.Command("setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", "touch", filepath.Join(image, "x"))
	if probe.Run() == nil {
		t.Error("uid 65532 can write the binary's directory")
	}

	healthcheck := func() error {
		c := exec.Command("setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", bin, "healthcheck")
		c.Dir, c.Env = image, env
		return c.Run()
	}
	if err := healthcheck(); err != nil {
		t.Fatalf("healthcheck with everything up: %v", err)
	}
	// It writes where it may: an upload lands in the data volume.
	base := fmt.Sprintf("http://127.0.0.1:%d/api/v1", port)
	reg := do(t, "POST", base+"/auth/register", jsonBody(map[string]string{"email": "ada@example.com", "password": "correct horse battery"}), "Content-Type", "application/json")
	var s struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(reg.body, &s)
	var body bytes.Buffer
	body.WriteString("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--b--\r\n")
	up := do(t, "POST", base+"/files", &body, "Content-Type", "multipart/form-data; boundary=b", "Authorization", "Bearer "+s.AccessToken)
	if up.status != http.StatusCreated {
		t.Errorf("upload as 65532: %d %s", up.status, up.body)
	}

	stopDB()
	var err error
	for i := 0; i < 3; i++ { // the first check may still hold a pooled connection
		if err = healthcheck(); err != nil {
			break
		}
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("healthcheck with the database down: %v, want exit 1", err)
	}
}

// nginxFor starts nginx with the files of nginx/, only the api's address, the listen port
// and the pid file changed, in front of the api on apiPort.
func nginxFor(t *testing.T, apiPort int) string {
	t.Helper()
	port := freePort(t)
	dir := openDir(t)
	files, err := filepath.Glob("../nginx/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("nginx/*.conf: %v", err)
	}
	edits := map[string][][2]string{
		"http.conf":  {{"http://api:8080", fmt.Sprintf("http://127.0.0.1:%d", apiPort)}},
		"nginx.conf": {{"listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port)}, {"pid /tmp/nginx.pid;", "pid " + filepath.Join(dir, "nginx.pid") + ";"}},
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := string(b)
		for _, e := range edits[filepath.Base(f)] {
			if !strings.Contains(c, e[0]) {
				t.Fatalf("the nginx config changed shape: %q not in %s", e[0], f)
			}
			c = strings.Replace(c, e[0], e[1], 1)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "nginx.conf")
	if out, err := exec.Command("nginx", "-t", "-p", dir, "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	start(t, false, dir, os.Environ(), "nginx", "-p", dir, "-c", path, "-g", "daemon off;")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, url+"/nginx-health")
	return url
}

var securityHeaders = []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Permissions-Policy", "Content-Security-Policy"}

func headersOnce(t *testing.T, what string, h http.Header, csp bool) {
	t.Helper()
	for _, k := range securityHeaders {
		if k == "Content-Security-Policy" && !csp {
			continue
		}
		if n := len(h.Values(k)); n != 1 {
			t.Errorf("%s: %s appears %d times: %v", what, k, n, h.Values(k))
		}
	}
	if s := h.Get("Server"); s != "nginx" {
		t.Errorf("%s: Server %q (version shown?)", what, s)
	}
}

func envelope(t *testing.T, what string, r response) (code string) {
	t.Helper()
	var e struct {
		Error struct {
			Code      string `json:"code"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" {
		t.Errorf("%s: not the envelope: %d %s", what, r.status, r.body)
		return ""
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: Content-Type %q", what, r.header.Get("Content-Type"))
	}
	if e.Error.RequestID == "" || e.Error.RequestID != r.header.Get("X-Request-ID") {
		t.Errorf("%s: request_id %q, X-Request-ID %q", what, e.Error.RequestID, r.header.Get("X-Request-ID"))
	}
	return e.Error.Code
}

// readEvents reads SSE events from r, sending each to ch.
func readEvents(r io.Reader, ch chan<- [2]string) {
	sc := bufio.NewScanner(r)
	var name, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && name != "":
			ch <- [2]string{name, data}
			name, data = "", ""
		}
	}
	close(ch)
}
