package tracing_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/database"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
	"assistant/server/testutil/pgtest"
)

// receiver is an OTLP/HTTP trace receiver: it decodes the protobuf exports and keeps
// their spans.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) Spans() []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...)
}

// A message sent is one trace: the request's span named by its operation id, with the
// database queries and the provider's stream as its children and the provider's HTTP
// request under the stream; the provider received that request's traceparent, and every
// log line of the request carries the trace id.
func TestTraceOfAReply(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	_, dbURL := pgtest.New(t)
	// The server's own pool (database.Open), whose queries are traced.
	pool, err := database.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	fake := fakeopenai.New(t)
	provider := llm.NewOpenAI(fake.BaseURL(), "test-key", "fake-model", 5*time.Second)
	env := apitest.New(t, apitest.WithPool(pool, dbURL), apitest.WithProvider(provider), apitest.WithConfig(func(c *config.Config) {
		c.OTLPEndpoint, c.OTelSampleRatio = rc.URL, 1
	}))

	s := env.Register("ada@example.com", "correct horse battery")
	r := env.As(s.AccessToken, http.MethodPost, "/api/v1/conversations", map[string]any{})
	var conv api.Conversation
	r.JSON(t, &conv)
	sent := env.As(s.AccessToken, http.MethodPost, "/api/v1/conversations/"+conv.Id.String()+"/messages", map[string]any{"content": "hello"})
	if sent.StatusCode != http.StatusCreated {
		t.Fatalf("send: %d %s", sent.StatusCode, sent.Body)
	}
	requestID := sent.Header.Get("X-Request-ID")
	if err := env.App.Tracing.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	spans := rc.Spans()
	var root *tracepb.Span
	for _, sp := range spans {
		if sp.Name == "sendMessage" {
			root = sp
		}
	}
	if root == nil {
		t.Fatalf("no span named sendMessage among %d", len(spans))
	}
	if len(root.ParentSpanId) != 0 || root.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("request span: parent %x, kind %v; want a server root", root.ParentSpanId, root.Kind)
	}
	// What hangs under the request span, by name (database spans as "db").
	children := map[string]int{}
	var stream, call *tracepb.Span
	for _, sp := range spans {
		if string(sp.TraceId) != string(root.TraceId) {
			continue
		}
		switch {
		case string(sp.ParentSpanId) == string(root.SpanId) && strings.HasPrefix(sp.Name, "db "):
			children["db"]++
		case string(sp.ParentSpanId) == string(root.SpanId) && sp.Name == "llm.stream":
			children["llm.stream"]++
			stream = sp
		}
	}
	if children["db"] == 0 || children["llm.stream"] != 1 {
		t.Fatalf("children of the request span: %v; spans:\n%s", children, names(spans))
	}
	for _, sp := range spans {
		if string(sp.ParentSpanId) == string(stream.SpanId) && sp.Kind == tracepb.Span_SPAN_KIND_CLIENT {
			call = sp
		}
	}
	if call == nil {
		t.Fatalf("no HTTP client span under the provider's stream; spans:\n%s", names(spans))
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("provider requests: %d", len(reqs))
	}
	want := "00-" + hex.EncodeToString(root.TraceId) + "-" + hex.EncodeToString(call.SpanId) + "-01"
	if diff := cmp.Diff(want, reqs[0].Traceparent); diff != "" {
		t.Errorf("traceparent the provider saw (-want +got):\n%s", diff)
	}

	// Every log line of the request names its trace.
	traceID, lines := hex.EncodeToString(root.TraceId), 0
	sc := bufio.NewScanner(strings.NewReader(env.Logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["request_id"] != requestID {
			continue
		}
		lines++
		if line["trace_id"] != traceID {
			t.Errorf("log line without the trace id %s: %s", traceID, sc.Bytes())
		}
	}
	if lines == 0 {
		t.Errorf("no log line of request %s", requestID)
	}
}

// With a sampling ratio of 0 nothing is exported and no log line names a trace.
func TestUnsampledRequestsLeaveNoTrace(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.OTLPEndpoint, c.OTelSampleRatio = rc.URL, 0
	}))
	for range 3 {
		if r := env.Call(http.MethodGet, "/api/v1/health", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("health: %d", r.StatusCode)
		}
	}
	if err := env.App.Tracing.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if spans := rc.Spans(); len(spans) != 0 {
		t.Errorf("spans exported at ratio 0:\n%s", names(spans))
	}
	if strings.Contains(env.Logs.String(), `"trace_id"`) {
		t.Errorf("a log line names a trace that was not exported:\n%s", env.Logs.String())
	}
}

func names(spans []*tracepb.Span) string {
	var b strings.Builder
	for _, sp := range spans {
		b.WriteString(sp.Name + " span=" + hex.EncodeToString(sp.SpanId) + " parent=" + hex.EncodeToString(sp.ParentSpanId) + "\n")
	}
	return b.String()
}
