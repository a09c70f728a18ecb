//go:build dockere2e

package e2e

// The stack under a real Docker engine (scripts/docker-e2e.sh starts the engine and builds
// the local stand-ins of the third-party images; it exports their names as E2E_*_IMAGE).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// e2eEnv is what scripts/docker-e2e.sh exports.
type e2eEnv struct{ postgres, redis, nginx, prometheus, seaweedfs, golang, base string }

func dockerEnv(t *testing.T) e2eEnv {
	t.Helper()
	e := e2eEnv{os.Getenv("E2E_POSTGRES_IMAGE"), os.Getenv("E2E_REDIS_IMAGE"), os.Getenv("E2E_NGINX_IMAGE"),
		os.Getenv("E2E_PROMETHEUS_IMAGE"), os.Getenv("E2E_SEAWEEDFS_IMAGE"), os.Getenv("E2E_GO_IMAGE"), os.Getenv("E2E_BASE_IMAGE")}
	if e.postgres == "" || e.redis == "" || e.nginx == "" || e.prometheus == "" || e.seaweedfs == "" || e.golang == "" || e.base == "" {
		t.Fatal("the Docker end-to-end tests run through `make e2e-docker` (scripts/docker-e2e.sh), which starts the engine and builds the images")
	}
	return e
}

// docker runs the docker CLI and returns its combined output.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// logPhase prints how long a phase of the run took, for the script's log.
func logPhase(t *testing.T, name string, start time.Time) {
	t.Logf("phase %s: %.1fs", name, time.Since(start).Seconds())
}

// stack is one compose project of docker-compose.yml (plus the test's provider) with its
// own env file, published on loopback ports.
type stack struct {
	t       *testing.T
	project string
	dir     string
	files   []string
	vars    map[string]string
	http    string // http://127.0.0.1:port of nginx
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// newStack writes the env file: .env.production.example with its secrets filled in, the
// local images, loopback ports and the test's provider.
func newStack(t *testing.T, fx *fixtures, project string, extra map[string]string) *stack {
	t.Helper()
	root := repoRoot(t)
	example, err := os.ReadFile(filepath.Join(root, ".env.production.example"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"POSTGRES_PASSWORD":        "e2e-" + secret()[:16],
		"JWT_SECRET":               secret(),
		"LLM_BASE_URL":             "https://provider:8443/v1",
		"LLM_API_KEY":              "e2e-provider-key",
		"LLM_MODEL":                "fake-model",
		"REGISTRATION_MODE":        "open",
		"CORS_ALLOWED_ORIGINS":     "",
		"RATE_LIMIT_AUTH_REQUESTS": "40",
		"CHECKPOINT_INTERVAL":      "200ms",
		"UPLOADS_PER_USER":         "10",
		"HTTP_PORT":                fmt.Sprintf("127.0.0.1:%d", fx.freePort(t)),
		"POSTGRES_IMAGE":           fx.env.postgres,
		"REDIS_IMAGE":              fx.env.redis,
		"NGINX_IMAGE":              fx.env.nginx,
		"PROMETHEUS_IMAGE":         fx.env.prometheus,
		"PROMETHEUS_PORT":          fmt.Sprintf("127.0.0.1:%d", fx.freePort(t)),
		"GO_IMAGE":                 fx.env.golang,
		"VERSION":                  fx.version,
		"E2E_BASE_IMAGE":           fx.env.base,
		"E2E_DIR":                  fx.dir,
		"FAKE_CHUNKS":              "5",
		"FAKE_DELAY":               "20ms",
	}
	for k, v := range extra {
		vars[k] = v
	}
	var b strings.Builder
	seen := map[string]bool{}
	for _, line := range strings.Split(string(example), "\n") {
		k, _, ok := strings.Cut(line, "=")
		if ok && !strings.HasPrefix(line, "#") {
			if v, set := vars[k]; set {
				line = k + "=" + v
				seen[k] = true
			}
		}
		b.WriteString(line + "\n")
	}
	for k, v := range vars {
		if !seen[k] {
			b.WriteString(k + "=" + v + "\n")
		}
	}
	// Not t.TempDir(): a subtest's name may hold a comma, and COMPOSE_ENV_FILES is a list.
	dir, err := os.MkdirTemp("", "assistant-e2e-stack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, project: project, dir: dir, vars: vars,
		files: []string{filepath.Join(root, "docker-compose.yml"), filepath.Join(root, "e2e", "testdata", "docker-provider.yml")},
		http:  "http://" + vars["HTTP_PORT"]}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.compose("logs", "--no-color", "--tail", "60")
			t.Logf("logs of %s:\n%s", project, out)
		}
		if out, err := s.compose("down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("down: %v\n%s", err, out)
		}
	})
	return s
}

func (s *stack) args(args ...string) []string {
	a := []string{"compose", "--project-name", s.project, "--project-directory", repoRoot(s.t), "--env-file", filepath.Join(s.dir, "env")}
	for _, f := range s.files {
		a = append(a, "-f", f)
	}
	return append(a, args...)
}

func (s *stack) compose(args ...string) (string, error) { return docker(s.args(args...)...) }

func (s *stack) mustCompose(args ...string) string {
	s.t.Helper()
	out, err := s.compose(args...)
	if err != nil {
		s.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// containers returns the ids of a service's containers, running or not.
func (s *stack) containers(service string) []string {
	s.t.Helper()
	out := mustDocker(s.t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service="+service)
	if out == "" {
		return nil
	}
	ids := strings.Fields(out)
	sort.Strings(ids)
	return ids
}

// inspect reads one value of a container with a Go template.
func inspect(t *testing.T, id, format string) string {
	t.Helper()
	return mustDocker(t, "inspect", "-f", format, id)
}

// psql runs SQL in the stack's database and returns its unaligned output.
func (s *stack) psql(sql string) string {
	s.t.Helper()
	return s.mustCompose("exec", "-T", "postgres", "psql", "-v", "ON_ERROR_STOP=1", "-U", "assistant", "-d", "assistant", "-At", "-c", sql)
}

// fixtures are built once per run: the api image, the provider binary and certificates.
type fixtures struct {
	env     e2eEnv
	dir     string
	version string
	caPool  *x509.CertPool
	mu      sync.Mutex
	ports   map[int]bool
}

var (
	fxOnce sync.Once
	fx     *fixtures
	fxErr  error
)

func (f *fixtures) freePort(t *testing.T) int {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		p := freePort(t)
		if !f.ports[p] {
			f.ports[p] = true
			return p
		}
	}
}

// getFixtures builds the api image (timed, then again to show the cache), the provider
// binary, a CA with the provider's certificate and a self-signed certificate for nginx.
func getFixtures(t *testing.T) *fixtures {
	t.Helper()
	env := dockerEnv(t)
	fxOnce.Do(func() {
		dir, err := os.MkdirTemp("", "assistant-docker-e2e-")
		if err != nil {
			fxErr = err
			return
		}
		_ = os.Chmod(dir, 0o755)
		fx = &fixtures{env: env, dir: dir, version: "e2e", ports: map[int]bool{}}
		fxErr = fx.build(t)
	})
	if fxErr != nil {
		t.Fatal(fxErr)
	}
	return fx
}

func (f *fixtures) build(t *testing.T) error {
	root := repoRoot(t)
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", filepath.Join(f.dir, "fakeprovider"), "./fakeprovider").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build the provider: %v\n%s", err, out)
	}
	if err := f.certificates(); err != nil {
		return err
	}
	start = time.Now()
	if out, err := buildImage(root, f.env.golang, "assistant:"+f.version, f.version); err != nil {
		return fmt.Errorf("docker build: %v\n%s", err, out)
	}
	logPhase(t, "image build", start)
	return nil
}

// buildImage builds the Dockerfile of dir (network: host, for the module proxy).
func buildImage(dir, goImage, tag, version string) (string, error) {
	return docker("build", "--network", "host", "--progress", "plain", "--build-arg", "GO_IMAGE="+goImage,
		"--build-arg", "VERSION="+version, "-t", tag, dir)
}

func (f *fixtures) certificates() error {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "assistant e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	f.caPool = x509.NewCertPool()
	f.caPool.AddCert(ca)
	leaf := func(name string, signer *x509.Certificate, signerKey *ecdsa.PrivateKey) ([]byte, []byte, error) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			DNSNames: []string{name}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if signer == nil {
			signer, signerKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
		if err != nil {
			return nil, nil, err
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
	}
	write := func(name string, b []byte, mode os.FileMode) error {
		p := filepath.Join(f.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, mode)
	}
	provCrt, provKey, err := leaf("provider", ca, caKey)
	if err != nil {
		return err
	}
	// The nginx certificate is self-signed, as a self-hoster's first one often is.
	tlsCrt, tlsKey, err := leaf("localhost", nil, nil)
	if err != nil {
		return err
	}
	for _, w := range []struct {
		name string
		b    []byte
	}{
		{"ca/e2e-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{"certs/provider.crt", provCrt}, {"certs/provider.key", provKey},
		{"tls/tls.crt", tlsCrt}, {"tls/tls.key", tlsKey},
	} {
		// World-readable: the provider and nginx read them as their own users; test keys only.
		if err := write(w.name, w.b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// providerClient reaches the test provider's published port, trusting the test CA.
func (f *fixtures) providerClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.caPool, ServerName: "provider"}}}
}

// --- the API through nginx ---

type session struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (s *stack) register(t *testing.T, email string) session {
	t.Helper()
	r := do(t, "POST", s.http+"/api/v1/auth/register", jsonBody(map[string]string{"email": email, "password": "correct horse battery"}),
		"Content-Type", "application/json")
	var ses session
	_ = json.Unmarshal(r.body, &ses)
	if r.status != http.StatusCreated || ses.AccessToken == "" {
		t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	return ses
}

func (s *stack) call(t *testing.T, token, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	h := []string{"Authorization", "Bearer " + token}
	if body != nil {
		rd = jsonBody(body)
		h = append(h, "Content-Type", "application/json")
	}
	return do(t, method, s.http+"/api/v1"+path, rd, h...)
}

func decode[T any](t *testing.T, r response, status int) T {
	t.Helper()
	var v T
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

type sseEvent struct{ id, name, data string }

// events reads a stream's events until it ends (cleanly or not).
func events(r io.Reader, ch chan<- sseEvent) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		case line == "" && ev.name != "":
			ch <- ev
			ev = sseEvent{}
		}
	}
}

// openStream starts a request whose answer is an event stream.
func (s *stack) openStream(t *testing.T, token, method, path string, body any, lastEventID string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = jsonBody(body)
	}
	req, _ := http.NewRequest(method, s.http+"/api/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	ch := make(chan sseEvent, 256)
	go events(resp.Body, ch)
	return resp, ch
}

// upload posts a small file and returns its id.
func (s *stack) upload(t *testing.T, token, name string, content []byte) string {
	t.Helper()
	var body bytes.Buffer
	fmt.Fprintf(&body, "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=%q\r\nContent-Type: text/plain\r\n\r\n", name)
	body.Write(content)
	body.WriteString("\r\n--b--\r\n")
	r := do(t, "POST", s.http+"/api/v1/files", &body, "Content-Type", "multipart/form-data; boundary=b", "Authorization", "Bearer "+token)
	f := decode[struct {
		ID string `json:"id"`
	}](t, r, http.StatusCreated)
	return f.ID
}

// waitFor polls until ok or the deadline.
func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
