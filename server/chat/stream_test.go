package chat_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/testutil/fakeopenai"
)

type firstEvent struct {
	UserMessage        api.Message `json:"user_message"`
	AssistantMessageID string      `json:"assistant_message_id"`
}

// A full streamed exchange, event by event.
func TestStreamedExchange(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"Привет", ", ", "мир", "! café"}})
	s := f.stream("Say hello")

	h := s.Resp.Header
	if h.Get("Cache-Control") != "no-cache, no-transform" || h.Get("X-Accel-Buffering") != "no" || h.Get("X-Request-ID") == "" {
		t.Errorf("stream headers: %v", h)
	}
	first := s.MustNext(t)
	var fe firstEvent
	first.Decode(t, &fe)
	if first.Name != "message" || first.ID != "0" || fe.UserMessage.Content != "Say hello" ||
		fe.UserMessage.Status != api.Complete || fe.AssistantMessageID == "" {
		t.Fatalf("first event %+v", first)
	}
	var text strings.Builder
	for _, want := range []string{"Привет", ", ", "мир", "! café"} {
		ev := s.MustNext(t)
		var d struct{ Content string }
		ev.Decode(t, &d)
		text.WriteString(d.Content)
		if ev.Name != "delta" || d.Content != want || ev.ID != fmt.Sprint(text.Len()) {
			t.Fatalf("delta %+v, want %q with id %d", ev, want, text.Len())
		}
	}
	done := s.MustNext(t)
	var m api.Message
	done.Decode(t, &m)
	if done.Name != "done" || done.ID != fmt.Sprint(text.Len()+1) || m.Status != api.Complete ||
		m.Content != text.String() || m.Id.String() != fe.AssistantMessageID || m.Usage == nil || m.Usage.CompletionTokens != 3 ||
		m.FinishReason == nil || *m.FinishReason != "stop" || m.Model == nil || *m.Model != "fake-model" {
		t.Fatalf("done %+v", done)
	}
	if rest := s.Rest(t); len(rest) != 0 {
		t.Errorf("events after done: %v", rest)
	}
	// What the model saw: the new message (the conversation has no system prompt).
	reqs := f.fake.Requests()
	if len(reqs) != 1 || !reqs[0].Stream || reqs[0].Messages[len(reqs[0].Messages)-1].Content != "Say hello" {
		t.Errorf("provider got %+v", reqs)
	}
	if got := f.stored(fe.AssistantMessageID); got.Content != text.String() || got.Status != api.Complete {
		t.Errorf("stored %+v", got)
	}
}

// The client goes away after the first delta: the reply still completes and is stored.
func TestDisconnectDoesNotLoseTheReply(t *testing.T) {
	t.Parallel()
	f := setup(t)
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"one ", "two ", "three"}, Step: step})
	s := f.stream("count")
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	if ev := s.MustNext(t); ev.Name != "delta" {
		t.Fatalf("got %+v", ev)
	}
	s.Close()
	for range 3 {
		step <- struct{}{}
	}
	m := f.waitStored(fe.AssistantMessageID)
	if m.Status != api.Complete || m.Content != "one two three" {
		t.Fatalf("stored %+v", m)
	}
	if f.fake.Cancelled() != 0 || f.fake.Completed() != 1 {
		t.Errorf("the provider's request was cut: cancelled %d, completed %d", f.fake.Cancelled(), f.fake.Completed())
	}
}

// Re-attaching with Last-Event-ID gets exactly the events the client missed, then the
// live ones.
func TestReattachReplaysWhatWasMissed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"alpha ", "beta ", "gamma ", "delta"}, Step: step})
	s := f.stream("go")
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	d1 := s.MustNext(t)
	s.Close()

	step <- struct{}{} // beta
	step <- struct{}{} // gamma
	waitFor(t, "two more chunks", func() bool {
		m := f.stored(fe.AssistantMessageID)
		return strings.HasSuffix(m.Content, "gamma ") // checkpointed
	})

	r := f.reattach(fe.AssistantMessageID, d1.ID)
	var got []string
	for range 2 {
		ev := r.MustNext(t)
		var d struct{ Content string }
		ev.Decode(t, &d)
		if ev.Name != "delta" {
			t.Fatalf("replay gave %+v", ev)
		}
		got = append(got, ev.ID+":"+d.Content)
	}
	if strings.Join(got, "|") != "11:beta |17:gamma " {
		t.Errorf("replayed %v", got)
	}
	step <- struct{}{} // delta
	live := r.MustNext(t)
	step <- struct{}{} // finish
	done := r.MustNext(t)
	var m api.Message
	done.Decode(t, &m)
	if live.Name != "delta" || live.ID != "22" || done.Name != "done" || m.Content != "alpha beta gamma delta" {
		t.Errorf("live %+v, done %+v", live, done)
	}

	// Re-attaching to a finished reply: its done event at once.
	again := f.reattach(fe.AssistantMessageID, "")
	evs := again.Rest(t)
	if len(evs) != 1 || evs[0].Name != "done" {
		t.Errorf("finished reply gave %+v", evs)
	}
	if r := f.call(http.MethodGet, f.convPath("/messages/"+fe.AssistantMessageID+"/events"), nil); r.StatusCode != http.StatusOK {
		t.Errorf("plain GET of a finished reply's events: %d", r.StatusCode)
	}
}

// Cancel closes the request to the provider and stores the partial text as cancelled.
func TestCancelStopsTheProvider(t *testing.T) {
	t.Parallel()
	f := setup(t)
	step := make(chan struct{}) // never released
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"partial ", "never"}, Step: step})
	s := f.stream("long answer please")
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	s.MustNext(t) // "partial "

	r := f.call(http.MethodPost, f.convPath("/messages/"+fe.AssistantMessageID+"/cancel"), nil)
	var m api.Message
	r.JSON(t, &m)
	if r.StatusCode != http.StatusOK || m.Status != api.Cancelled || m.Content != "partial " {
		t.Fatalf("cancel: %d %s", r.StatusCode, r.Body)
	}
	waitFor(t, "the provider to see the cancellation", func() bool { return f.fake.Cancelled() == 1 })
	done := s.MustNext(t)
	if done.Name != "done" || !strings.Contains(done.Data, `"status":"cancelled"`) {
		t.Errorf("stream ended with %+v", done)
	}
	// Idempotent.
	again := f.call(http.MethodPost, f.convPath("/messages/"+fe.AssistantMessageID+"/cancel"), nil)
	var m2 api.Message
	again.JSON(t, &m2)
	if again.StatusCode != http.StatusOK || m2.Status != api.Cancelled || m2.Content != "partial " {
		t.Errorf("second cancel: %d %s", again.StatusCode, again.Body)
	}
}

func TestOneGenerationPerConversationAndPerUserCap(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.GenerationsPerUser = 2 })
	step := make(chan struct{})
	defer close(step)
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"a", "b"}, Step: step})
	s := f.stream("first")
	s.MustNext(t)

	second := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "second"})
	if second.StatusCode != http.StatusConflict || second.Envelope(t).Code != api.ErrorBodyCodeConflict {
		t.Fatalf("second generation in one conversation: %d %s", second.StatusCode, second.Body)
	}
	// Two conversations running: the user's cap of 2.
	other := f.newConversation(f.token, map[string]any{})
	s2req := f.env.Request(http.MethodPost, "/api/v1/conversations/"+other.Id.String()+"/messages/stream", map[string]any{"content": "x"})
	s2req.Header.Set("Authorization", "Bearer "+f.token)
	s2 := f.env.OpenStream(s2req)
	s2.MustNext(t)
	third := f.newConversation(f.token, map[string]any{})
	r := f.call(http.MethodPost, "/api/v1/conversations/"+third.Id.String()+"/messages", map[string]any{"content": "x"})
	if r.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeRateLimited || r.Header.Get("Retry-After") == "" {
		t.Fatalf("over the per-user cap: %d %s", r.StatusCode, r.Body)
	}
	// The refused message was not stored.
	l := f.call(http.MethodGet, "/api/v1/conversations/"+third.Id.String()+"/messages", nil)
	if !strings.Contains(string(l.Body), `"items":[]`) {
		t.Errorf("a refused message was stored: %s", l.Body)
	}
}

// Upstream failures: 502 for plain sends, an error event for streams, the partial text
// stored as failed, and the provider's own text never shown.
func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode, code, stored string
	}{
		{fakeopenai.Status500, "upstream_unavailable", ""},
		{fakeopenai.Status429, "upstream_rate_limited", ""},
		{fakeopenai.Malformed, "upstream_bad_response", "one "},
		{fakeopenai.Cut, "upstream_bad_response", "one two "},
		{fakeopenai.Stall, "upstream_timeout", "one "},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			f := setupTimeout(t, 300*time.Millisecond)
			f.fake.Set(fakeopenai.Behavior{Mode: c.mode, Chunks: []string{"one ", "two ", "three"}})

			r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "hi"})
			e := r.Envelope(t)
			if r.StatusCode != http.StatusBadGateway || e.Code != api.ErrorBodyCodeUpstreamError || !strings.Contains(e.Message, c.code) {
				t.Fatalf("send: %d %s", r.StatusCode, r.Body)
			}
			if strings.Contains(string(r.Body), "secret upstream detail") {
				t.Error("the provider's error text reached the client")
			}
			l := f.call(http.MethodGet, f.convPath("/messages"), nil)
			var list api.MessageList
			l.JSON(t, &list)
			if len(list.Items) != 2 || list.Items[0].Content != "hi" || list.Items[1].Status != api.Failed ||
				list.Items[1].Content != c.stored || list.Items[1].ErrorCode == nil || *list.Items[1].ErrorCode != c.code {
				t.Fatalf("stored: %s", l.Body)
			}

			s := f.stream("again")
			evs := s.Rest(t)
			last := evs[len(evs)-1]
			var env api.Error
			last.Decode(t, &env)
			if last.Name != "error" || env.Error.Code != api.ErrorBodyCodeUpstreamError || env.Error.RequestId != s.Resp.Header.Get("X-Request-ID") {
				t.Errorf("stream ended with %+v (X-Request-ID %s)", last, s.Resp.Header.Get("X-Request-ID"))
			}
		})
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.call(http.MethodGet, "/api/v1/models", nil)
	var l api.ModelList
	r.JSON(t, &l)
	if r.StatusCode != http.StatusOK || len(l.Items) != 2 || l.Items[0].Id != "fake-model" || l.DefaultModel != "fake-model" {
		t.Fatalf("models: %d %s", r.StatusCode, r.Body)
	}
	f.fake.ModelsFail.Store(true)
	r = f.call(http.MethodGet, "/api/v1/models", nil)
	if r.StatusCode != http.StatusBadGateway || strings.Contains(string(r.Body), "secret") {
		t.Fatalf("models with the provider down: %d %s", r.StatusCode, r.Body)
	}
	// One failure, one error line (with its cause), under the request's id.
	rid := r.Header.Get("X-Request-ID")
	errors := 0
	for _, l := range f.env.Logs.Lines(t) {
		if l["request_id"] == rid && l["level"] == "ERROR" {
			errors++
		}
	}
	if errors != 1 {
		t.Errorf("the provider's failure is logged %d times at ERROR, want once", errors)
	}
	if r := f.env.Call(http.MethodGet, "/api/v1/models", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("models without a token: %d", r.StatusCode)
	}
}

// While the provider is silent, ": ping" comments keep the stream alive for proxies.
func TestHeartbeats(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.SSEHeartbeat = 30 * time.Millisecond })
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"a", "b"}, Step: step})
	s := f.stream("hi")
	s.MustNext(t) // message
	s.MustNext(t) // "a"
	time.Sleep(200 * time.Millisecond)
	step <- struct{}{}
	if ev := s.MustNext(t); ev.Name != "delta" {
		t.Fatalf("got %+v", ev)
	}
	if s.Pings < 2 {
		t.Errorf("%d pings in a 200 ms silence with a 30 ms heartbeat", s.Pings)
	}
	step <- struct{}{}
	s.Rest(t)
}
