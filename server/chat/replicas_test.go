package chat_test

import (
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

// Two replicas on one database: a reply running on A can be followed and cancelled from B.
func TestAcrossReplicas(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	provider := llm.NewOpenAI(fake.BaseURL(), "k", "fake-model", 5*time.Second)
	pool, url := pgtest.New(t)
	a := apitest.New(t, apitest.WithPool(pool, url), apitest.WithProvider(provider))
	b := apitest.New(t, apitest.WithPool(pool, url), apitest.WithProvider(provider))
	token := a.Register("ada@example.com", "correct horse battery").AccessToken
	// B must accept A's tokens: replicas share JWT_SECRET.
	var conv api.Conversation
	a.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{}).JSON(t, &conv)
	base := "/api/v1/conversations/" + conv.Id.String()

	step := make(chan struct{})
	fake.Set(fakeopenai.Behavior{Chunks: []string{"first ", "second ", "third"}, Step: step})
	req := a.Request(http.MethodPost, base+"/messages/stream", map[string]any{"content": "go"})
	req.Header.Set("Authorization", "Bearer "+token)
	s := a.OpenStream(req)
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	d1 := s.MustNext(t) // "first " (id 6)
	step <- struct{}{}  // "second "
	s.MustNext(t)

	// B follows it through the checkpoints: what came after "first ", then the end.
	rreq := b.Request(http.MethodGet, base+"/messages/"+fe.AssistantMessageID+"/events", nil)
	rreq.Header.Set("Authorization", "Bearer "+token)
	rreq.Header.Set("Last-Event-ID", d1.ID)
	r := b.OpenStream(rreq)
	ev := r.MustNext(t)
	var d struct{ Content string }
	ev.Decode(t, &d)
	if ev.Name != "delta" || d.Content != "second " || ev.ID != "13" {
		t.Fatalf("B replayed %+v", ev)
	}

	// B cancels; A's run sees the request at its next checkpoint and stores it cancelled.
	c := b.As(token, http.MethodPost, base+"/messages/"+fe.AssistantMessageID+"/cancel", nil)
	var m api.Message
	c.JSON(t, &m)
	if c.StatusCode != http.StatusOK || m.Status != api.Cancelled || m.Content != "first second " {
		t.Fatalf("cancel from B: %d %s", c.StatusCode, c.Body)
	}
	waitFor(t, "A's provider request to be cancelled", func() bool { return fake.Cancelled() == 1 })
	last := r.Rest(t)
	if len(last) == 0 || last[len(last)-1].Name != "done" || !strings.Contains(last[len(last)-1].Data, `"status":"cancelled"`) {
		t.Errorf("B's stream ended with %+v", last)
	}
	if end := s.Rest(t); len(end) == 0 || end[len(end)-1].Name != "done" {
		t.Errorf("A's stream ended with %+v", end)
	}
}
