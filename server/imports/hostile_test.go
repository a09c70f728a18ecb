package imports_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/imports"
	"assistant/server/testutil/apitest"
)

// One ChatGPT conversation of just under 8 MB made of tiny mapping entries ("k123":{})
// would decode into many times its size; it is skipped by its count of objects and arrays
// (MaxContainers) before it is decoded. Not parallel: the heap measured is the process's.
func TestOneConversationHeapIsBounded(t *testing.T) {
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.MaxUploadBytes = 16 << 20 }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken

	var b bytes.Buffer
	b.WriteString(`[{"title":"t","mapping":{`)
	for i := 0; b.Len() < imports.MaxConversationBytes-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%x":{}`, i)
	}
	b.WriteString(`}}]`)
	size := b.Len()

	heap := sampleHeap(5 * time.Millisecond)
	r := upload(env, token, bytes.NewReader(b.Bytes()))
	grew := heap()
	if r.StatusCode != http.StatusCreated && r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("import: %d %.300s", r.StatusCode, r.Body)
	}
	t.Logf("a %d-byte conversation: peak heap %d MB above the start", size, grew>>20)
	// The documented bound is about 2 × 8 MB; the margin here is 4 ×.
	if grew > 4*imports.MaxConversationBytes {
		t.Errorf("one %d MB conversation took %d MB of heap (documented: about %d MB)", size>>20, grew>>20, 2*imports.MaxConversationBytes>>20)
	}
}

// Imported trees may hold a reply under a reply (a ChatGPT assistant turn with text, a tool
// call left out, then the answer; or our own export, as here). Regenerating the second
// reply has no user message to answer: 422 naming the message, never a reply sent to the
// model as the user's words.
func TestRegenerateOfAReplyUnderAReply(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	res := imported(t, env, token, `{"format":"json","conversation":{"title":"two replies"},"messages":[
		{"id":"u","parent_id":null,"role":"user","content":"question"},
		{"id":"a1","parent_id":"u","role":"assistant","content":"let me look that up"},
		{"id":"a2","parent_id":"a1","role":"assistant","content":"the answer"}]}`)
	if len(res.ConversationIds) != 1 {
		t.Fatalf("imported %+v", res)
	}
	conv := res.ConversationIds[0].String()
	r := env.As(token, http.MethodGet, "/api/v1/conversations/"+conv+"/messages", nil)
	var l api.MessageList
	r.JSON(t, &l)
	if len(l.Items) != 3 {
		t.Fatalf("branch %s", r.Body)
	}
	user, a2 := l.Items[0], l.Items[2]
	r = env.As(token, http.MethodPost, "/api/v1/conversations/"+conv+"/messages/"+a2.Id.String()+"/regenerate", nil)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "path.message_id") {
		t.Fatalf("regenerate a reply under a reply: %d %s", r.StatusCode, r.Body)
	}
	// The first reply, under the user message, is regenerated as usual.
	r = env.As(token, http.MethodPost, "/api/v1/conversations/"+conv+"/messages/"+l.Items[1].Id.String()+"/regenerate", nil)
	var out api.Regenerated
	r.JSON(t, &out)
	if r.StatusCode != http.StatusCreated || out.AssistantMessage.ParentId == nil || *out.AssistantMessage.ParentId != user.Id {
		t.Errorf("regenerate the first reply: %d %s", r.StatusCode, r.Body)
	}
}
