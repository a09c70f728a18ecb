package chat_test

import (
	"github.com/google/uuid"

	"assistant/server/pagination"
	"net/http"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
)

// fixture is an API whose provider is the fake OpenAI server, a signed-in user and one of
// their conversations.
type fixture struct {
	t     testing.TB
	env   *apitest.Env
	fake  *fakeopenai.Server
	token string
	conv  api.Conversation
}

func setup(t *testing.T, cfg ...func(*configT)) *fixture {
	t.Helper()
	return setupTimeout(t, 5*time.Second, cfg...)
}

// setupTimeout is setup with the provider's idle timeout (LLM_TIMEOUT).
func setupTimeout(t testing.TB, timeout time.Duration, cfg ...func(*configT)) *fixture {
	t.Helper()
	fake := fakeopenai.New(t)
	provider := llm.NewOpenAI(fake.BaseURL(), "test-key", "fake-model", timeout)
	env := apitest.New(t, apitest.WithProvider(provider), apitest.WithConfig(cfg...))
	s := env.Register("ada@example.com", "correct horse battery")
	f := &fixture{t: t, env: env, fake: fake, token: s.AccessToken}
	f.conv = f.newConversation(s.AccessToken, map[string]any{})
	return f
}

func (f *fixture) newConversation(token string, body map[string]any) api.Conversation {
	f.t.Helper()
	r := f.env.As(token, http.MethodPost, "/api/v1/conversations", body)
	if r.StatusCode != http.StatusCreated {
		f.t.Fatalf("create conversation: %d %s", r.StatusCode, r.Body)
	}
	var c api.Conversation
	r.JSON(f.t, &c)
	return c
}

func (f *fixture) call(method, path string, body any) *apitest.Response {
	f.t.Helper()
	return f.env.As(f.token, method, path, body)
}

func (f *fixture) convPath(suffix string) string {
	return "/api/v1/conversations/" + f.conv.Id.String() + suffix
}

// stream sends a message on the streaming endpoint.
func (f *fixture) stream(content string) *apitest.Stream {
	f.t.Helper()
	req := f.env.Request(http.MethodPost, f.convPath("/messages/stream"), map[string]any{"content": content})
	req.Header.Set("Authorization", "Bearer "+f.token)
	return f.env.OpenStream(req)
}

// reattach opens the events of a reply, after lastEventID when not empty.
func (f *fixture) reattach(messageID, lastEventID string) *apitest.Stream {
	f.t.Helper()
	req := f.env.Request(http.MethodGet, f.convPath("/messages/"+messageID+"/events"), nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	return f.env.OpenStream(req)
}

// stored reads a message as the API lists it.
func (f *fixture) stored(id string) api.Message {
	f.t.Helper()
	r := f.call(http.MethodGet, f.convPath("/messages?limit=100"), nil)
	var l api.MessageList
	r.JSON(f.t, &l)
	for _, m := range l.Items {
		if m.Id.String() == id {
			return m
		}
	}
	f.t.Fatalf("message %s not listed: %s", id, r.Body)
	return api.Message{}
}

// waitStored polls until the message reaches a final status.
func (f *fixture) waitStored(id string) api.Message {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := f.stored(id)
		if m.Status == api.Complete || m.Status == api.Failed || m.Status == api.Cancelled {
			return m
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("message %s still %s", id, m.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type configT = config.Config

// cursorFor makes the cursor that points after the message id.
func cursorFor(id string) string {
	return pagination.Encode(pagination.Position{ID: uuid.MustParse(id)})
}

// setupB is setup for benchmarks (quiet logs).
func setupB(b *testing.B) *fixture {
	b.Helper()
	return setupTimeout(b, 5*time.Second, func(c *configT) { c.LogLevel = 12 })
}
