// Package apitest runs the whole API over a real socket against a real database of the
// test's own, and checks every response it sees against api/openapi.yaml: a status or
// field the spec does not document fails the test. Every error response must also be the
// envelope whose request_id equals the X-Request-ID header.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5/pgxpool"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/httpapi"
	"assistant/server/llm"
	"assistant/server/logging"
	"assistant/server/testutil/logtest"
	"assistant/server/testutil/pgtest"
	"assistant/server/validation"
)

// Env is one running API.
type Env struct {
	t       testing.TB
	Server  *httptest.Server
	Pool    *pgxpool.Pool
	DBURL   string
	Config  config.Config
	Logs    *logtest.Buffer
	spec    *openapi3.T
	router  routers.Router
	Client  *http.Client
	Handler http.Handler
	App     *httpapi.App
}

// Option sets up the API before it starts: WithConfig, WithPool, WithProvider.
type Option func(*setup)

type setup struct {
	pool     *pgxpool.Pool
	dbURL    string
	provider llm.Provider
	config   []func(*config.Config)
}

// WithConfig changes the test configuration (Config, with the test's database and
// directories) before the API is built, each function in turn.
func WithConfig(fs ...func(*config.Config)) Option {
	return func(s *setup) { s.config = append(s.config, fs...) }
}

// WithPool runs the API on the given pool (whose database is at dbURL) instead of a fresh
// database: two Envs on one pool are two replicas (they share the test config's JWT secret).
func WithPool(pool *pgxpool.Pool, dbURL string) Option {
	return func(s *setup) { s.pool, s.dbURL = pool, dbURL }
}

// WithProvider gives the API this AI provider (a fake one in tests) instead of the
// configured one.
func WithProvider(p llm.Provider) Option {
	return func(s *setup) { s.provider = p }
}

// Config is a valid development configuration for tests (the database URL is replaced).
func Config() config.Config {
	cfg, err := config.Load(func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://localhost/placeholder"
		}
		return ""
	})
	if err != nil {
		panic(err)
	}
	cfg.LogLevel = slog.LevelDebug
	// Cheap hashing keeps tests fast; the cost parameters are measured by benchmarks.
	cfg.Argon2MemoryKiB = 8192
	cfg.Argon2Time = 1
	cfg.EchoDelay = 0
	// One secret for every instance, as replicas share JWT_SECRET.
	cfg.JWTSecret, cfg.JWTSecretRandom = []byte("apitest-jwt-secret-apitest-jwt-secret"), false
	cfg.CheckpointInterval = 50 * time.Millisecond
	return cfg
}

// New starts the API, on a fresh database of the test's own unless WithPool says otherwise.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	var o setup
	for _, opt := range opts {
		opt(&o)
	}
	pool, dbURL := o.pool, o.dbURL
	if pool == nil {
		pool, dbURL = pgtest.New(t)
	}
	cfg := Config()
	cfg.DatabaseURL = dbURL
	dir := t.TempDir()
	cfg.UploadDir, cfg.ExportDir = dir+"/uploads", dir+"/exports"
	for _, f := range o.config {
		f(&cfg)
	}
	logs := &logtest.Buffer{}
	log := logging.New(logs, cfg.LogLevel)
	app, err := httpapi.New(httpapi.Deps{Config: cfg, Log: log, LogWriter: logs, Pool: pool, Version: "test", Started: time.Now(), Provider: o.provider})
	if err != nil {
		t.Fatalf("build API: %v", err)
	}
	t.Cleanup(func() { _ = app.Close() })
	h := app.Handler
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	spec.Servers = openapi3.Servers{{URL: srv.URL + httpapi.BasePath}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{t: t, Server: srv, Pool: pool, DBURL: dbURL, Config: cfg, Logs: logs, spec: spec, router: router,
		Client: srv.Client(), Handler: h, App: app}
	// Replies still running when the test ends are stopped before the database goes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		app.Generations.Shutdown(ctx)
	})
	return env
}

// Response is a response whose body has been read.
type Response struct {
	*http.Response
	Body []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response body is not JSON: %v\n%s", err, r.Body)
	}
}

// Envelope decodes the error envelope.
func (r *Response) Envelope(t testing.TB) api.ErrorBody {
	t.Helper()
	var e api.Error
	r.JSON(t, &e)
	return e.Error
}

// Request builds a request to path (relative to the server, e.g. /api/v1/health). A body
// that is not an io.Reader, []byte or string is sent as JSON.
func (e *Env) Request(method, path string, body any) *http.Request {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
		ct = "application/json"
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.Server.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	} else if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// Do sends req, reads the response and checks it against the spec.
func (e *Env) Do(req *http.Request) *Response {
	e.t.Helper()
	resp, err := e.Client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	r := &Response{Response: resp, Body: body}
	e.Check(req, r)
	return r
}

// Call is Do(Request(method, path, body)).
func (e *Env) Call(method, path string, body any) *Response {
	e.t.Helper()
	return e.Do(e.Request(method, path, body))
}

// Check validates a response against the spec and the envelope rules.
func (e *Env) Check(req *http.Request, r *Response) {
	e.t.Helper()
	rid := r.Header.Get("X-Request-ID")
	if rid == "" {
		e.t.Errorf("%s %s: no X-Request-ID header", req.Method, req.URL.Path)
	}
	vreq := req.Clone(context.Background())
	vreq.Body = http.NoBody
	route, params, err := e.router.FindRoute(vreq)
	if r.StatusCode >= 400 && (err != nil || isEnvelope(r.Body)) {
		e.checkEnvelope(req, r, rid)
	}
	if err != nil {
		// Not an operation of the spec (docs, unknown paths, wrong methods): only the
		// envelope rules apply.
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: r.StatusCode,
		Header: r.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus:   true,
			MultiError:              true,
			SchemaValidationOptions: validation.SchemaOptions(),
		},
	}
	in.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s: response %d breaks the spec: %v\n%s", req.Method, req.URL.Path, r.StatusCode, err, r.Body)
	}
	if r.StatusCode == http.StatusOK && strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		e.checkEvents(req, route.Operation.OperationID, r.Body)
	}
}

// checkEnvelope requires the error envelope, with request_id equal to the header.
func (e *Env) checkEnvelope(req *http.Request, r *Response, rid string) {
	e.t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Errorf("%s %s: error %d has Content-Type %q, want application/json\n%s", req.Method, req.URL.Path, r.StatusCode, ct, r.Body)
	}
	env := r.Envelope(e.t)
	if env.RequestId != rid {
		e.t.Errorf("%s %s: envelope request_id %q != X-Request-ID %q", req.Method, req.URL.Path, env.RequestId, rid)
	}
	if err := e.spec.Components.Schemas["Error"].Value.VisitJSON(decodeAny(e.t, r.Body), validation.SchemaOptions()...); err != nil {
		e.t.Errorf("%s %s: body is not the error envelope: %v\n%s", req.Method, req.URL.Path, err, r.Body)
	}
	if r.StatusCode >= 500 && r.StatusCode != http.StatusServiceUnavailable && r.StatusCode != http.StatusBadGateway {
		e.t.Errorf("%s %s: answered %d\n%s", req.Method, req.URL.Path, r.StatusCode, r.Body)
	}
}

func isEnvelope(b []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m["error"]
	return ok
}

func decodeAny(t testing.TB, b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Errorf("not JSON: %v\n%s", err, b)
	}
	return v
}

// Register creates an account and returns its session.
func (e *Env) Register(email, password string) api.Session {
	e.t.Helper()
	r := e.Call(http.MethodPost, "/api/v1/auth/register", map[string]any{"email": email, "password": password})
	if r.StatusCode != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", email, r.StatusCode, r.Body)
	}
	var s api.Session
	r.JSON(e.t, &s)
	return s
}

// As sends a request with the bearer token.
func (e *Env) As(token, method, path string, body any) *Response {
	e.t.Helper()
	req := e.Request(method, path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	return e.Do(req)
}
