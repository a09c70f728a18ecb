package chat_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"assistant/gen/api"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
)

// panicky is a provider whose stream panics after the first words, as a client library
// meeting a chunk it cannot handle would.
type panicky struct{ llm.Echo }

func (panicky) Stream(_ context.Context, _ llm.Request, onDelta func(string) error) (llm.Result, error) {
	_ = onDelta("first words ")
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return llm.Result{}, nil
}

// A panic inside a reply fails that reply (stored, error_code internal, partial text kept)
// and nothing else: the server goes on serving.
func TestPanickingProviderFailsTheReplyNotTheServer(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithProvider(panicky{}))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	var conv api.Conversation
	env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "t"}).JSON(t, &conv)
	base := "/api/v1/conversations/" + conv.Id.String()
	r := env.As(token, http.MethodPost, base+"/messages", map[string]any{"content": "hello"})
	if r.StatusCode < 500 || r.Envelope(t).Code == "" {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
	var list api.MessageList
	env.As(token, http.MethodGet, base+"/messages", nil).JSON(t, &list)
	if len(list.Items) != 2 {
		t.Fatalf("messages: %+v", list.Items)
	}
	reply := list.Items[1]
	if reply.Status != api.Failed || reply.ErrorCode == nil || *reply.ErrorCode != "internal" || reply.Content != "first words " {
		t.Errorf("reply: status %s, code %v, content %q", reply.Status, reply.ErrorCode, reply.Content)
	}
	logged := false
	for _, l := range env.Logs.Lines(t) {
		if l["msg"] == "panic recovered" && strings.Contains(l["panic"].(string), "assignment to entry in nil map") {
			logged = true
			if l["request_id"] != r.Header.Get("X-Request-ID") || l["stack"] == nil {
				t.Errorf("the panic's line lacks the request id %s or the stack: %v", r.Header.Get("X-Request-ID"), l)
			}
		}
	}
	if !logged {
		t.Error("the panic was not logged")
	}
	// The next reply, with the conversation free again, and the health check both work.
	if r := env.Call(http.MethodGet, "/api/v1/health", nil); r.StatusCode != http.StatusOK {
		t.Errorf("health after the panic: %d", r.StatusCode)
	}
	if r := env.As(token, http.MethodPost, base+"/messages", map[string]any{"content": "again"}); r.StatusCode < 500 {
		t.Errorf("second send: %d", r.StatusCode)
	}
}
