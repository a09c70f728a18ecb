// Package metrics is the process's Prometheus instrumentation: one registry of its own (never
// the global one, so two servers in one test process do not mix), the metrics the parts
// record into, and the handler that serves them on the metrics listener (METRICS_ADDR, never
// the public port). A nil *Metrics records nothing, so a part built without metrics (a
// tool, a test) needs no special case.
//
// Every label is bounded: operation ids and envelope codes come from the spec, models from
// the configured list (anything else is "other"), kinds and rules from fixed sets in the
// code. No user id, path or client-chosen text reaches a label.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config says what the label sets may contain.
type Config struct {
	// Models are the models that get a label of their own (LLM_MODELS and LLM_MODEL);
	// every other model is counted as "other".
	Models []string
	// Version is the build's version, for assistant_build_info.
	Version string
}

// Other is the label of a model outside Config.Models.
const Other = "other"

// Reply outcomes (assistant_replies_finished_total's status): the stored status.
const (
	ReplyComplete  = "complete"
	ReplyFailed    = "failed"
	ReplyCancelled = "cancelled"
)

// Rate-limit rules (assistant_rate_limited_total's rule).
const (
	RuleClientNetwork = "client_network" // x-rate-limit: client, per network
	RuleGlobal        = "global"         // x-rate-limit: client, over all clients
	RuleAccount       = "account"        // x-rate-limit: account (password checks)
	RuleLoginBackoff  = "login_backoff"  // failed logins on one email
)

// Kinds of stored bytes (assistant_stored_bytes_total's kind).
const (
	KindUpload = "upload"
	KindExport = "export"
)

// requestBuckets cover both kinds of request this API serves. Most operations are small
// JSON calls answered in about a millisecond on loopback (1–50 ms behind a proxy and a
// busy database), so the low buckets are dense; a login or a password change hashes with
// argon2id (tens to a few hundred ms); an export renders for up to EXPORT_TIMEOUT (60 s);
// a streamed reply lasts as long as the model writes, often tens of seconds, sometimes
// minutes. The top buckets tell a long stream from a stuck one without splitting the fast
// ones finer than anyone reads.
var requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15, 60, 300}

// firstTokenBuckets: a local model answers in tens of ms, a hosted one in 0.3–3 s, a cold
// or overloaded one in tens of seconds (LLM_TIMEOUT bounds the wait, 60 s by default).
var firstTokenBuckets = []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60}

// tokenRateBuckets: a CPU model writes a few tokens a second, a hosted or GPU one 20–200.
var tokenRateBuckets = []float64{1, 2.5, 5, 10, 20, 40, 80, 160, 320}

// Metrics are the process's metrics.
type Metrics struct {
	reg    *prometheus.Registry
	models map[string]bool

	requests        *prometheus.HistogramVec
	errors          *prometheus.CounterVec
	repliesStarted  *prometheus.CounterVec
	repliesFinished *prometheus.CounterVec
	repliesRunning  prometheus.Gauge
	firstToken      *prometheus.HistogramVec
	tokenRate       *prometheus.HistogramVec
	providerErrors  *prometheus.CounterVec
	streamsOpen     prometheus.Gauge
	rateLimited     *prometheus.CounterVec
	storedBytes     *prometheus.CounterVec
}

// New registers the metrics, the Go runtime's and the process's, and build info.
func New(c Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), models: map[string]bool{}}
	for _, name := range c.Models {
		m.models[name] = true
	}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "assistant_http_request_duration_seconds",
		Help:    "HTTP requests by operation id (unmatched: no route; other: a route outside the spec) and status class, until the handler returned (a stream: until it ended).",
		Buckets: requestBuckets,
	}, []string{"operation", "class"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistant_http_errors_total",
		Help: "Error envelopes answered, by envelope code.",
	}, []string{"code"})
	m.repliesStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistant_replies_started_total",
		Help: "Replies started on this process, by model.",
	}, []string{"model"})
	m.repliesFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistant_replies_finished_total",
		Help: "Replies finished on this process, by model and stored status (complete, failed, cancelled).",
	}, []string{"model", "status"})
	m.repliesRunning = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "assistant_replies_running",
		Help: "Replies running on this process.",
	})
	m.firstToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "assistant_reply_first_token_seconds",
		Help:    "Time from a reply's start to its first text from the provider, by model.",
		Buckets: firstTokenBuckets,
	}, []string{"model"})
	m.tokenRate = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "assistant_reply_tokens_per_second",
		Help:    "Completion tokens a second from the first text to the end, of replies that completed, by model.",
		Buckets: tokenRateBuckets,
	}, []string{"model"})
	m.providerErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistant_provider_errors_total",
		Help: "Replies failed by the provider, by kind (upstream_timeout, upstream_rate_limited, upstream_unavailable, upstream_bad_response).",
	}, []string{"kind"})
	m.streamsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "assistant_event_streams_open",
		Help: "Server-sent event streams open on this process.",
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistant_rate_limited_total",
		Help: "Requests refused by a rate limit, by rule (client_network, global, account, login_backoff).",
	}, []string{"rule"})
	m.storedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistant_stored_bytes_total",
		Help: "Bytes of uploads and exports stored by this process, by kind (upload, export).",
	}, []string{"kind"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "assistant_build_info",
		Help: "The build: version and Go version. Always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(c.Version, runtime.Version()).Set(1)
	m.reg.MustRegister(m.requests, m.errors, m.repliesStarted, m.repliesFinished, m.repliesRunning, m.firstToken,
		m.tokenRate, m.providerErrors, m.streamsOpen, m.rateLimited, m.storedBytes, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The fixed label values exist from the start, so a dashboard shows 0 rather than
	// nothing, and rate() sees the first increment.
	for _, rule := range []string{RuleClientNetwork, RuleGlobal, RuleAccount, RuleLoginBackoff} {
		m.rateLimited.WithLabelValues(rule)
	}
	for _, kind := range []string{KindUpload, KindExport} {
		m.storedBytes.WithLabelValues(kind)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// Registry is where the metrics are registered (the pool's collector, tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// WatchPool adds the pool's statistics (pgxpool.Stat) to what is scraped.
func (m *Metrics) WatchPool(p *pgxpool.Pool) {
	if m != nil {
		m.reg.MustRegister(poolCollector{p})
	}
}

// Model is the label of a model: its name when configured, else "other".
func (m *Metrics) Model(name string) string {
	if m.models[name] {
		return name
	}
	return Other
}

var classes = [...]string{"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Class is the status class of status: "2xx" … "5xx" (499, a client that left, is 4xx).
func Class(status int) string {
	if i := status / 100; i >= 1 && i <= 5 {
		return classes[i]
	}
	return strconv.Itoa(status)
}

// Request records a served request: its operation id, status and duration.
func (m *Metrics) Request(operation string, status int, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(operation, Class(status)).Observe(d.Seconds())
	}
}

// Error records an error envelope sent with code.
func (m *Metrics) Error(code string) {
	if m != nil && code != "" {
		m.errors.WithLabelValues(code).Inc()
	}
}

// ReplyStarted records a reply starting with model.
func (m *Metrics) ReplyStarted(model string) {
	if m != nil {
		m.repliesStarted.WithLabelValues(m.Model(model)).Inc()
		m.repliesRunning.Inc()
	}
}

// ReplyFinished records a reply that ended with status (ReplyComplete, ...).
func (m *Metrics) ReplyFinished(model, status string) {
	if m != nil {
		m.repliesFinished.WithLabelValues(m.Model(model), status).Inc()
		m.repliesRunning.Dec()
	}
}

// FirstToken records the wait for a reply's first text.
func (m *Metrics) FirstToken(model string, d time.Duration) {
	if m != nil {
		m.firstToken.WithLabelValues(m.Model(model)).Observe(d.Seconds())
	}
}

// TokenRate records a completed reply's speed: tokens written over d.
func (m *Metrics) TokenRate(model string, tokens int, d time.Duration) {
	if m != nil && tokens > 0 && d > 0 {
		m.tokenRate.WithLabelValues(m.Model(model)).Observe(float64(tokens) / d.Seconds())
	}
}

// ProviderError records a reply failed by the provider, by its error code.
func (m *Metrics) ProviderError(kind string) {
	if m != nil {
		m.providerErrors.WithLabelValues(kind).Inc()
	}
}

// StreamOpened and StreamClosed track the open event streams.
func (m *Metrics) StreamOpened() {
	if m != nil {
		m.streamsOpen.Inc()
	}
}

func (m *Metrics) StreamClosed() {
	if m != nil {
		m.streamsOpen.Dec()
	}
}

// RateLimited records a refusal by rule (RuleClientNetwork, ...).
func (m *Metrics) RateLimited(rule string) {
	if m != nil {
		m.rateLimited.WithLabelValues(rule).Inc()
	}
}

// Stored records n bytes of kind (KindUpload, KindExport) stored.
func (m *Metrics) Stored(kind string, n int64) {
	if m != nil && n > 0 {
		m.storedBytes.WithLabelValues(kind).Add(float64(n))
	}
}
