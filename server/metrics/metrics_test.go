package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/llm"
	"assistant/server/metrics"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
)

// scrape reads the metrics endpoint with Prometheus's own parser of the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics answered %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the metrics do not parse as the Prometheus text format: %v", err)
	}
	return fams
}

// value is the value of the series of name with exactly labels (a histogram's count), or -1
// when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(want) {
			continue
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// The counters move as requests, replies, provider failures, rate-limit refusals and
// uploads happen; every label is bounded (operation ids, never paths); and the public port
// does not serve the metrics.
func TestMetricsMoveWithTheTraffic(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	provider := llm.NewOpenAI(fake.BaseURL(), "test-key", "fake-model", 5*time.Second)
	env := apitest.New(t, apitest.WithProvider(provider), apitest.WithConfig(func(c *config.Config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.LLMModel = "fake-model"
		c.RateLimitEnabled, c.RateLimitBackend, c.RateLimitAuthRequests = true, "memory", 2
	}))
	ms := httptest.NewServer(env.App.Metrics.Handler())
	t.Cleanup(ms.Close)

	// The public port: /metrics is the 404 envelope, wherever it is asked for.
	for _, path := range []string{"/metrics", "/api/v1/metrics"} {
		r := env.Call(http.MethodGet, path, nil)
		if r.StatusCode != http.StatusNotFound || r.Envelope(t).Code != api.ErrorBodyCodeNotFound {
			t.Fatalf("GET %s on the public port: %d %s", path, r.StatusCode, r.Body)
		}
	}
	// Hostile paths are counted as unmatched, never as themselves.
	hostile := "/api/v1/conversations/%E2%80%AEevil%22%7D%0A/x"
	if r := env.Call(http.MethodGet, hostile, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("hostile path: %d", r.StatusCode)
	}

	s := env.Register("ada@example.com", "correct horse battery")
	// Two wrong passwords, then the per-network limit of login (2 a window) refuses.
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		r := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ada@example.com", "password": "wrong password"})
		if r.StatusCode != want {
			t.Fatalf("login %d: %d %s", i, r.StatusCode, r.Body)
		}
	}
	r := env.As(s.AccessToken, http.MethodPost, "/api/v1/conversations", map[string]any{})
	var conv api.Conversation
	r.JSON(t, &conv)
	messages := "/api/v1/conversations/" + conv.Id.String() + "/messages"
	if r := env.As(s.AccessToken, http.MethodPost, messages, map[string]any{"content": "hello"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
	fake.Set(fakeopenai.Behavior{Mode: fakeopenai.Status500})
	if r := env.As(s.AccessToken, http.MethodPost, messages, map[string]any{"content": "again"}); r.StatusCode != http.StatusBadGateway {
		t.Fatalf("send to a failing provider: %d %s", r.StatusCode, r.Body)
	}
	content := []byte("some notes\n")
	if r := env.Upload(s.AccessToken, "notes.txt", content); r.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.StatusCode, r.Body)
	}

	type series struct {
		name   string
		labels []string
	}
	want := map[string]float64{
		"requests getHealth":              -1, // never asked
		"requests unmatched 4xx":          3,
		"requests register 2xx":           1,
		"requests login 4xx":              3,
		"requests createConversation 2xx": 1,
		"requests sendMessage 2xx":        1,
		"requests sendMessage 5xx":        1,
		"requests uploadFile 2xx":         1,
		"errors not_found":                3,
		"errors invalid_credentials":      2,
		"errors rate_limited":             1,
		"errors upstream_error":           1,
		"replies started":                 2,
		"replies complete":                1,
		"replies failed":                  1,
		"replies running":                 0,
		"first token":                     1,
		"tokens per second":               1,
		"provider errors":                 1,
		"streams open":                    0,
		"rate limited client_network":     1,
		"rate limited global":             0,
		"stored upload":                   float64(len(content)),
		"stored export":                   0,
		"build info":                      1,
	}
	query := map[string]series{
		"requests getHealth":              {"assistant_http_request_duration_seconds", []string{"operation", "getHealth", "class", "2xx"}},
		"requests unmatched 4xx":          {"assistant_http_request_duration_seconds", []string{"operation", "unmatched", "class", "4xx"}},
		"requests register 2xx":           {"assistant_http_request_duration_seconds", []string{"operation", "register", "class", "2xx"}},
		"requests login 4xx":              {"assistant_http_request_duration_seconds", []string{"operation", "login", "class", "4xx"}},
		"requests createConversation 2xx": {"assistant_http_request_duration_seconds", []string{"operation", "createConversation", "class", "2xx"}},
		"requests sendMessage 2xx":        {"assistant_http_request_duration_seconds", []string{"operation", "sendMessage", "class", "2xx"}},
		"requests sendMessage 5xx":        {"assistant_http_request_duration_seconds", []string{"operation", "sendMessage", "class", "5xx"}},
		"requests uploadFile 2xx":         {"assistant_http_request_duration_seconds", []string{"operation", "uploadFile", "class", "2xx"}},
		"errors not_found":                {"assistant_http_errors_total", []string{"code", "not_found"}},
		"errors invalid_credentials":      {"assistant_http_errors_total", []string{"code", "invalid_credentials"}},
		"errors rate_limited":             {"assistant_http_errors_total", []string{"code", "rate_limited"}},
		"errors upstream_error":           {"assistant_http_errors_total", []string{"code", "upstream_error"}},
		"replies started":                 {"assistant_replies_started_total", []string{"model", "fake-model"}},
		"replies complete":                {"assistant_replies_finished_total", []string{"model", "fake-model", "status", "complete"}},
		"replies failed":                  {"assistant_replies_finished_total", []string{"model", "fake-model", "status", "failed"}},
		"replies running":                 {"assistant_replies_running", nil},
		"first token":                     {"assistant_reply_first_token_seconds", []string{"model", "fake-model"}},
		"tokens per second":               {"assistant_reply_tokens_per_second", []string{"model", "fake-model"}},
		"provider errors":                 {"assistant_provider_errors_total", []string{"kind", llm.CodeUnavailable}},
		"streams open":                    {"assistant_event_streams_open", nil},
		"rate limited client_network":     {"assistant_rate_limited_total", []string{"rule", metrics.RuleClientNetwork}},
		"rate limited global":             {"assistant_rate_limited_total", []string{"rule", metrics.RuleGlobal}},
		"stored upload":                   {"assistant_stored_bytes_total", []string{"kind", metrics.KindUpload}},
		"stored export":                   {"assistant_stored_bytes_total", []string{"kind", metrics.KindExport}},
		"build info":                      {"assistant_build_info", []string{"version", "test", "goversion", goVersion()}},
	}
	// A reply is counted finished just after its answer is sent: the scrape is retried
	// until it agrees, within a bound against never.
	var diff string
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; {
		fams = scrape(t, ms.URL)
		got := map[string]float64{}
		for k, q := range query {
			got[k] = value(fams, q.name, q.labels...)
		}
		if diff = cmp.Diff(want, got); diff == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	// The pool's statistics are there and moved.
	if v := value(fams, "assistant_db_pool_acquires_total"); v <= 0 {
		t.Errorf("assistant_db_pool_acquires_total = %v", v)
	}
	if v := value(fams, "assistant_db_pool_max_connections"); v <= 0 {
		t.Errorf("assistant_db_pool_max_connections = %v", v)
	}
	// No label holds a path, an id or an email: operations are the spec's ids.
	ops := map[string]bool{"unmatched": true, "other": true}
	for _, id := range operationIDs(t) {
		ops[id] = true
	}
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				v := l.GetValue()
				if l.GetName() == "operation" && !ops[v] {
					t.Errorf("%s: operation %q is not an operation id", name, v)
				}
				if strings.ContainsAny(v, "/@\n") || strings.Contains(v, conv.Id.String()) || strings.Contains(v, "evil") {
					t.Errorf("%s: label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

// A model outside the configured ones is "other": a label set no client can grow.
func TestModelLabelIsBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{Models: []string{"gpt-a", "local-b"}})
	got := []string{m.Model("gpt-a"), m.Model("local-b"), m.Model("gpt-a "), m.Model("x\u202e"), m.Model("")}
	want := []string{"gpt-a", "local-b", metrics.Other, metrics.Other, metrics.Other}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("model labels (-want +got):\n%s", diff)
	}
	// A nil *Metrics records nothing and does not fail.
	var none *metrics.Metrics
	none.Request("getHealth", 200, time.Millisecond)
	none.ReplyStarted("gpt-a")
	none.RateLimited(metrics.RuleGlobal)
}

func operationIDs(t *testing.T) []string {
	t.Helper()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			out = append(out, op.OperationID)
		}
	}
	slices.Sort(out)
	return out
}

func goVersion() string { return runtime.Version() }
