package assistant_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/sdk/go/assistant"
)

// A server that says what the spec does not: the stream reader refuses it with an error
// instead of guessing, skips only what a newer server may add (an event type it does not
// know), and gives up re-attaching when nothing comes of it.
func TestStreamHostile(t *testing.T) {
	t.Parallel()
	const reply = "01938f2e-7c1a-7d3e-9b2f-5a6c7d8e9f02"
	message := fmt.Sprintf(`id: 0
event: message
data: {"user_message":{"id":"01938f2e-7c1a-7d3e-9b2f-5a6c7d8e9f01","conversation_id":"01938f2e-7c1a-7d3e-9b2f-5a6c7d8e9f00","role":"user","content":"Hi","status":"complete","created_at":"2026-06-01T09:30:00Z"},"assistant_message_id":%q}

`, reply)
	done := func(content string) string {
		return fmt.Sprintf("id: %d\nevent: done\ndata: {\"id\":%q,\"conversation_id\":\"01938f2e-7c1a-7d3e-9b2f-5a6c7d8e9f00\",\"role\":\"assistant\",\"content\":%q,\"status\":\"complete\",\"created_at\":\"2026-06-01T09:30:00Z\"}\n\n", len(content)+1, reply, content)
	}
	cases := []struct {
		name      string
		stream    string   // the answer to the send
		reattach  []string // the answers to each re-attach, the last one repeated
		wantText  string
		wantErr   string // in the iteration's last error
		wantLast  []string
		wantTypes []string
	}{
		{name: "an id that is not a number", stream: "id: x\nevent: delta\ndata: {\"content\":\"a\"}\n\n", wantErr: `has the id "x"`},
		{name: "data that is not JSON", stream: message + "id: 1\nevent: delta\ndata: {content\n\n", wantErr: "the delta event is not valid", wantTypes: []string{"message"}},
		{name: "a payload of the wrong shape", stream: message + "id: 1\nevent: delta\ndata: {\"content\":7}\n\n", wantErr: "the delta event is not valid", wantTypes: []string{"message"}},
		{name: "a line over the bound", stream: message + "id: 1\nevent: delta\ndata: " + strings.Repeat("a", 17<<20) + "\n\n",
			wantErr: "an event line over", wantTypes: []string{"message"}},
		{name: "an end before the message event", stream: ": ping\n\n", wantErr: "ended before the reply started"},
		{name: "an unknown event type is skipped", stream: message + "id: 1\nevent: surprise\ndata: {}\n\n" + "id: 2\nevent: delta\ndata: {\"content\":\"Hi\"}\n\n" + done("Hi"),
			wantText: "Hi", wantTypes: []string{"message", "delta", "done"}},
		{name: "a reply that ended while away: its missing text arrives as a delta", stream: message + "id: 4\nevent: delta\ndata: {\"content\":\"Olá\"}\n\n",
			reattach: []string{done("Olá, Lisboa")}, wantText: "Olá, Lisboa", wantLast: []string{"4"}, wantTypes: []string{"message", "delta", "delta", "done"}},
		{name: "re-attaching gives up when nothing comes", stream: message, reattach: []string{": ping\n\n"},
			wantErr: "failed 5 times", wantLast: []string{"0", "0", "0", "0", "0"}, wantTypes: []string{"message"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var last []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				if strings.HasSuffix(r.URL.Path, "/messages/stream") {
					fmt.Fprint(w, tc.stream)
					return
				}
				mu.Lock()
				last = append(last, r.Header.Get("Last-Event-ID"))
				n := len(last)
				mu.Unlock()
				fmt.Fprint(w, tc.reattach[min(n, len(tc.reattach))-1])
			}))
			defer srv.Close()
			c, err := assistant.New(srv.URL, assistant.WithHTTP(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			var types []string
			var lastErr error
			for ev, err := range c.StreamReply(t.Context(), uuid.New(), assistant.SendMessageRequest{Content: "Hi"}) {
				if err != nil {
					lastErr = err
					continue
				}
				types = append(types, ev.Type)
				if ev.Delta != nil {
					text.WriteString(ev.Delta.Content)
				}
			}
			if tc.wantErr == "" && lastErr != nil || tc.wantErr != "" && (lastErr == nil || !strings.Contains(lastErr.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one saying %q", lastErr, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]any{tc.wantText, tc.wantTypes, tc.wantLast}, []any{text.String(), types, last}); diff != "" {
				t.Errorf("text, events, Last-Event-IDs (-want +got):\n%s", diff)
			}
		})
	}
}
