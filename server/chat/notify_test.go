package chat_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
	"assistant/server/testutil/pgtest"
)

// pair is two replicas over one database, a user and a conversation.
type pair struct {
	a, b  *apitest.Env
	fake  *fakeopenai.Server
	token string
	base  string
}

func twoReplicas(t *testing.T, cfgA ...func(*configT)) *pair {
	t.Helper()
	fake := fakeopenai.New(t)
	provider := llm.NewOpenAI(fake.BaseURL(), "k", "fake-model", 5*time.Second)
	pool, url := pgtest.New(t)
	a := apitest.New(t, apitest.WithPool(pool, url), apitest.WithProvider(provider), apitest.WithConfig(cfgA...))
	b := apitest.New(t, apitest.WithPool(pool, url), apitest.WithProvider(provider))
	// Nothing but a notification (or a reconnection of the listener) makes these replicas
	// look at a row again within the test's time.
	a.App.Notify.SetFallback(time.Hour)
	b.App.Notify.SetFallback(time.Hour)
	token := a.Register("ada@example.com", "correct horse battery").AccessToken
	var conv api.Conversation
	a.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{}).JSON(t, &conv)
	return &pair{a: a, b: b, fake: fake, token: token, base: "/api/v1/conversations/" + conv.Id.String()}
}

// start sends a message on A whose reply moves one chunk per step, and reads up to the
// reply's first delta.
func (p *pair) start(t *testing.T, chunks ...string) (*apitest.Stream, chan struct{}, string) {
	t.Helper()
	step := make(chan struct{})
	p.fake.Set(fakeopenai.Behavior{Chunks: chunks, Step: step})
	req := p.a.Request(http.MethodPost, p.base+"/messages/stream", map[string]any{"content": "go"})
	req.Header.Set("Authorization", "Bearer "+p.token)
	s := p.a.OpenStream(req)
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	if ev := s.MustNext(t); ev.Name != "delta" {
		t.Fatalf("A's stream: %+v", ev)
	}
	return s, step, fe.AssistantMessageID
}

func (p *pair) follow(t *testing.T, env *apitest.Env, id string) *apitest.Stream {
	t.Helper()
	req := env.Request(http.MethodGet, p.base+"/messages/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	return env.OpenStream(req)
}

// nextDelta reads the next event, which must be a delta with this content.
func nextDelta(t *testing.T, s *apitest.Stream, want string) {
	t.Helper()
	ev := s.MustNext(t)
	var d struct{ Content string }
	ev.Decode(t, &d)
	if ev.Name != "delta" || d.Content != want {
		t.Fatalf("got %s %q, want delta %q", ev.Name, ev.Data, want)
	}
}

// lastDone reads the rest of a stream, which must end with a done event; with only, it
// must be all that is left.
func lastDone(t *testing.T, s *apitest.Stream, only bool, status, content string) {
	t.Helper()
	rest := s.Rest(t)
	if len(rest) == 0 || rest[len(rest)-1].Name != "done" || only && len(rest) != 1 {
		t.Fatalf("stream ended with %+v", rest)
	}
	var m api.Message
	rest[len(rest)-1].Decode(t, &m)
	if string(m.Status) != status || m.Content != content {
		t.Fatalf("done: %s %q, want %s %q", m.Status, m.Content, status, content)
	}
}

// A follower on replica B of a reply running on A gets every delta and the end as A
// checkpoints them, woken by notifications: its fallback timer is an hour long.
func TestFollowerOnAnotherReplicaIsWokenByNotifications(t *testing.T) {
	t.Parallel()
	p := twoReplicas(t)
	s, step, id := p.start(t, "one ", "two ", "three")

	r := p.follow(t, p.b, id)
	if ev := r.MustNext(t); ev.Name != "message" {
		t.Fatalf("B began with %+v", ev)
	}
	nextDelta(t, r, "one ")
	step <- struct{}{}
	nextDelta(t, r, "two ")
	step <- struct{}{}
	nextDelta(t, r, "three")
	step <- struct{}{} // the end
	lastDone(t, r, true, "complete", "one two three")
	lastDone(t, s, false, "complete", "one two three")
	if n := p.b.App.Notify.Received(); n < 4 {
		t.Errorf("B's listener received %d notifications, want at least 4 (3 checkpoints and the end)", n)
	}
}

// A cancel sent to B stops the reply running on A at once: A checkpoints only every hour
// and no one polls, so the notification is what reaches it, and B answers when A's
// notification of the stored end reaches B.
func TestCancelOnAnotherReplicaIsDeliveredByNotification(t *testing.T) {
	t.Parallel()
	p := twoReplicas(t, func(c *configT) { c.CheckpointInterval = time.Hour })
	s, _, id := p.start(t, "one ", "two ")

	c := p.b.As(p.token, http.MethodPost, p.base+"/messages/"+id+"/cancel", nil)
	var m api.Message
	c.JSON(t, &m)
	if c.StatusCode != http.StatusOK || m.Status != api.Cancelled || m.Content != "one " {
		t.Fatalf("cancel on B: %d %s", c.StatusCode, c.Body)
	}
	waitFor(t, "A's provider request to be cancelled", func() bool { return p.fake.Cancelled() == 1 })
	lastDone(t, s, false, "cancelled", "one ")
}

// When B's listening connection is killed mid-reply, it reconnects, and B's follower still
// gets everything: the reconnection wakes it to read what it may have missed.
func TestFollowerSurvivesALostListener(t *testing.T) {
	t.Parallel()
	p := twoReplicas(t)
	s, step, id := p.start(t, "one ", "two ", "three")
	r := p.follow(t, p.b, id)
	r.MustNext(t)
	nextDelta(t, r, "one ")

	l := p.b.App.Notify
	if _, err := p.a.Pool.Exec(context.Background(), "SELECT pg_terminate_backend($1)", int32(l.PID())); err != nil {
		t.Fatal(err)
	}
	step <- struct{}{}
	nextDelta(t, r, "two ")
	waitFor(t, "B's listener to reconnect", func() bool { return l.Reconnects() == 1 && l.PID() != 0 })
	step <- struct{}{}
	nextDelta(t, r, "three")
	step <- struct{}{}
	lastDone(t, r, true, "complete", "one two three")
	lastDone(t, s, false, "complete", "one two three")
	if !strings.Contains(p.b.Logs.String(), "notification listener reconnected") {
		t.Error("the reconnection was not logged")
	}
}

// With no notifications at all (B's listener is gone), B's follower and B's cancel still
// finish by reading the row on the fallback timer.
func TestWithoutNotificationsFollowersFallBackToPolling(t *testing.T) {
	t.Parallel()
	p := twoReplicas(t)
	l := p.b.App.Notify
	_ = l.Close()
	l.SetFallback(20 * time.Millisecond)
	s, step, id := p.start(t, "one ", "two ", "three")
	r := p.follow(t, p.b, id)
	r.MustNext(t)
	nextDelta(t, r, "one ")
	step <- struct{}{}
	nextDelta(t, r, "two ")
	step <- struct{}{}
	nextDelta(t, r, "three")
	step <- struct{}{}
	lastDone(t, r, true, "complete", "one two three")
	lastDone(t, s, false, "complete", "one two three")

	// A's runs still check the row at each checkpoint (every 50 ms in tests).
	s, _, id = p.start(t, "four ", "five")
	c := p.b.As(p.token, http.MethodPost, p.base+"/messages/"+id+"/cancel", nil)
	var m api.Message
	c.JSON(t, &m)
	if m.Status != api.Cancelled || m.Content != "four " {
		t.Fatalf("cancel on B: %d %s", c.StatusCode, c.Body)
	}
	lastDone(t, s, false, "cancelled", "four ")
}

// tryStream opens a stream, or returns nil after checking the 429 against the spec.
func tryStream(t *testing.T, env *apitest.Env, req *http.Request) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(req.Context())
	t.Cleanup(cancel)
	req = req.WithContext(ctx)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := &apitest.Response{Response: resp, Body: body}
	env.Check(req, r)
	if resp.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeRateLimited || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream answered %d %s %s", resp.StatusCode, resp.Header, body)
	}
	return nil
}

// SSE_STREAMS_PER_USER: one stream beyond the cap is a 429 (sendMessageStream starts no
// reply then), another user is not affected, and a stream that ends frees its slot.
func TestStreamsPerUserAreCapped(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.SSEStreamsPerUser = 2 })
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"one ", "two"}, Step: step})
	s1 := f.stream("hello")
	var fe firstEvent
	s1.MustNext(t).Decode(t, &fe)
	s2 := f.reattach(fe.AssistantMessageID, "")

	events := func() *http.Request {
		req := f.env.Request(http.MethodGet, f.convPath("/messages/"+fe.AssistantMessageID+"/events"), nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		return req
	}
	if tryStream(t, f.env, events()) != nil {
		t.Fatal("a third stream was opened")
	}
	other := f.newConversation(f.token, map[string]any{})
	send := f.env.Request(http.MethodPost, "/api/v1/conversations/"+other.Id.String()+"/messages/stream", map[string]any{"content": "hi"})
	send.Header.Set("Authorization", "Bearer "+f.token)
	if tryStream(t, f.env, send) != nil {
		t.Fatal("a third stream was opened by sending")
	}
	var l api.MessageList
	f.env.As(f.token, http.MethodGet, "/api/v1/conversations/"+other.Id.String()+"/messages", nil).JSON(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("the refused send stored %d messages", len(l.Items))
	}

	// Another user has slots of their own.
	bob := f.env.Register("bob@example.com", "correct horse battery").AccessToken
	bobConv := f.newConversation(bob, map[string]any{})
	req := f.env.Request(http.MethodPost, "/api/v1/conversations/"+bobConv.Id.String()+"/messages/stream", map[string]any{"content": "hi"})
	req.Header.Set("Authorization", "Bearer "+bob)
	f.env.OpenStream(req).MustNext(t)

	// Closing a stream frees its slot (once the server has seen the client go).
	s2.Close()
	var s3 *http.Response
	waitFor(t, "a slot to be freed", func() bool { s3 = tryStream(t, f.env, events()); return s3 != nil })
	if tryStream(t, f.env, events()) != nil {
		t.Fatal("a third stream was opened after one closed")
	}
	// A reply that ends ends its streams and frees their slots.
	for range 4 { // two for each reply (Ada's and Bob's), whichever takes them
		step <- struct{}{}
	}
	if end := s1.Rest(t); len(end) == 0 || end[len(end)-1].Name != "done" {
		t.Fatalf("s1 ended with %+v", end)
	}
	_, _ = io.Copy(io.Discard, s3.Body)
	for range 2 {
		var s *http.Response
		waitFor(t, "slots to be freed", func() bool {
			s = tryStream(t, f.env, events()) // the reply has ended: one event, then the end
			return s != nil
		})
		_, _ = io.Copy(io.Discard, s.Body)
	}
}
