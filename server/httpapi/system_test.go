package httpapi_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

func TestHealthReportsDatabase(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)

	r := env.Call(http.MethodGet, "/api/v1/health", nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.StatusCode, r.Body)
	}
	var h api.Health
	r.JSON(t, &h)
	if h.Status != api.HealthStatusOk || h.Checks.Database.Status != api.HealthCheckStatusOk || h.Version != "test" {
		t.Errorf("health = %+v", h)
	}
	if h.Checks.Redis != nil {
		t.Errorf("redis check reported without Redis configured: %+v", h.Checks.Redis)
	}
	if h.Checks.Storage.Status != api.HealthCheckStatusOk {
		t.Errorf("storage = %+v", h.Checks.Storage)
	}
}

// The upload directory vanishing (a volume unmounted) turns health 503 on storage.
func TestHealthReportsLocalStorage(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	if err := os.RemoveAll(env.Config.UploadDir); err != nil {
		t.Fatal(err)
	}
	r := env.Call(http.MethodGet, "/api/v1/health", nil)
	var h api.Health
	r.JSON(t, &h)
	if r.StatusCode != http.StatusServiceUnavailable || h.Checks.Storage.Status != api.HealthCheckStatusError ||
		h.Checks.Database.Status != api.HealthCheckStatusOk {
		t.Errorf("health without the upload directory: %d %s", r.StatusCode, r.Body)
	}
}

// The database becomes unreachable (its connections are cut and new ones refused): health
// turns 503 with the same shape, the error is logged but not returned, and health recovers
// on its own once the database accepts connections again.
func TestHealthFollowsTheDatabaseDownAndBack(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	dbName := env.DBURL[strings.LastIndex(env.DBURL, "/")+1:]
	dbName = strings.SplitN(dbName, "?", 2)[0]

	adminConn := apitestAdmin(t)
	exec := func(sql string) {
		t.Helper()
		if _, err := adminConn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS false")
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + dbName + "'")

	var r *apitest.Response
	for i := 0; i < 3; i++ { // the first ping may meet a connection that is already dead
		r = env.Call(http.MethodGet, "/api/v1/health", nil)
	}
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d with the database down, want 503: %s", r.StatusCode, r.Body)
	}
	var h api.Health
	r.JSON(t, &h)
	if h.Status != api.HealthStatusDegraded || h.Checks.Database.Status != api.HealthCheckStatusError {
		t.Errorf("health = %+v", h)
	}
	if strings.Contains(string(r.Body), "connect") || strings.Contains(string(r.Body), "allow") {
		t.Errorf("health body leaks the database error: %s", r.Body)
	}
	if !strings.Contains(env.Logs.String(), `"msg":"health check failed"`) {
		t.Errorf("the failing check was not logged:\n%s", env.Logs.String())
	}

	exec("ALTER DATABASE " + dbName + " ALLOW_CONNECTIONS true")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = env.Call(http.MethodGet, "/api/v1/health", nil)
		if r.StatusCode == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.StatusCode != http.StatusOK {
		t.Fatalf("health did not recover: %d %s", r.StatusCode, r.Body)
	}
}

func TestLivenessChecksNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.Pool.Close() // even with no database at all
	r := env.Call(http.MethodGet, "/api/v1/health/live", nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.Body), `"status":"ok"`) {
		t.Fatalf("live = %d %s", r.StatusCode, r.Body)
	}
}

func TestDocsOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	paths := []string{"/api/v1/openapi.yaml", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/swagger-ui-bundle.js"}

	on := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.DocsEnabled = true }))
	for _, p := range paths {
		r := on.Call(http.MethodGet, p, nil)
		if r.StatusCode != http.StatusOK {
			t.Errorf("docs on: GET %s = %d", p, r.StatusCode)
		}
	}
	yaml := on.Call(http.MethodGet, "/api/v1/openapi.yaml", nil)
	if !strings.HasPrefix(string(yaml.Body), "openapi: 3.0.3") {
		t.Errorf("openapi.yaml is not the original document: %.40s", yaml.Body)
	}
	page := on.Call(http.MethodGet, "/api/v1/docs", nil)
	csp := page.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self' 'sha256-") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("docs CSP = %q", csp)
	}
	if strings.Contains(string(page.Body), "cdn") || !strings.Contains(string(page.Body), "/api/v1/docs/swagger-ui-bundle.js") {
		t.Errorf("docs page does not load its embedded assets:\n%s", page.Body)
	}
	if r := on.Call(http.MethodGet, "/api/v1/docs/nope.js", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown docs asset = %d", r.StatusCode)
	}

	off := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.DocsEnabled = false }))
	for _, p := range paths {
		r := off.Call(http.MethodGet, p, nil)
		if r.StatusCode != http.StatusNotFound || r.Envelope(t).Code != api.ErrorBodyCodeNotFound {
			t.Errorf("docs off: GET %s = %d %s", p, r.StatusCode, r.Body)
		}
	}
}

func TestCORSOnlyForConfiguredOrigins(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.CORSAllowedOrigins = []string{"https://app.example.com"} }))
	preflight := func(origin string) *http.Response {
		req := env.Request(http.MethodOptions, "/api/v1/users/me", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PATCH")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := preflight("https://app.example.com")
	if ok.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(ok.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Errorf("allowed origin: %d %v", ok.StatusCode, ok.Header)
	}
	if bad := preflight("https://evil.example.com"); bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", bad.Header)
	}
	req := env.Request(http.MethodGet, "/api/v1/health/live", nil)
	req.Header.Set("Origin", "https://app.example.com")
	r := env.Do(req)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("simple request: %v", r.Header)
	}

	off := apitest.New(t)
	req = off.Request(http.MethodGet, "/api/v1/health/live", nil)
	req.Header.Set("Origin", "https://app.example.com")
	if r := off.Do(req); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS on without configured origins: %v", r.Header)
	}
}
