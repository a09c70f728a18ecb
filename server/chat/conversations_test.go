package chat_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
)

func TestConversationLifecycle(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.newConversation(f.token, map[string]any{"title": "Trip", "system_prompt": "Be brief.", "model": "fake-large"})
	if c.Title != "Trip" || c.SystemPrompt == nil || *c.SystemPrompt != "Be brief." || c.Model == nil || *c.Model != "fake-large" {
		t.Fatalf("created %+v", c)
	}
	path := "/api/v1/conversations/" + c.Id.String()
	r := f.call(http.MethodPatch, path, map[string]any{"title": "Lisbon", "system_prompt": "", "model": ""})
	var u api.Conversation
	r.JSON(t, &u)
	if r.StatusCode != http.StatusOK || u.Title != "Lisbon" || u.SystemPrompt != nil || u.Model != nil {
		t.Fatalf("patch: %d %s", r.StatusCode, r.Body)
	}
	if r := f.call(http.MethodPatch, path, map[string]any{"title": "  "}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("blank title: %d", r.StatusCode)
	}
	if r := f.call(http.MethodPatch, path, map[string]any{}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("empty patch: %d", r.StatusCode)
	}
	if r := f.call(http.MethodGet, path, nil); r.StatusCode != http.StatusOK {
		t.Errorf("get: %d", r.StatusCode)
	}
	if r := f.call(http.MethodDelete, path, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r := f.call(http.MethodGet, path, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: %d", r.StatusCode)
	}
}

// The system prompt, then the history, then the new message reach the model; the model
// named by the conversation is used; an untitled conversation is named by its first message.
func TestWhatTheModelSees(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.newConversation(f.token, map[string]any{"system_prompt": "You are terse.", "model": "fake-large"})
	path := "/api/v1/conversations/" + c.Id.String()
	long := "Plan a two-day visit to Lisbon with museums, food markets and a day trip to Sintra please"
	for _, msg := range []string{long, "And the budget?"} {
		if r := f.call(http.MethodPost, path+"/messages", map[string]any{"content": msg}); r.StatusCode != http.StatusCreated {
			t.Fatalf("send: %d %s", r.StatusCode, r.Body)
		}
	}
	reqs := f.fake.Requests()
	last := reqs[len(reqs)-1]
	var got []string
	for _, m := range last.Messages {
		got = append(got, m.Role+":"+m.Content)
	}
	want := []string{"system:You are terse.", "user:" + long, "assistant:Hello, world!", "user:And the budget?"}
	if strings.Join(got, "|") != strings.Join(want, "|") || last.Model != "fake-large" {
		t.Errorf("model %s saw %q", last.Model, got)
	}
	r := f.call(http.MethodGet, path, nil)
	var conv api.Conversation
	r.JSON(t, &conv)
	if !strings.HasPrefix(conv.Title, "Plan a two-day visit to Lisbon") || !strings.HasSuffix(conv.Title, "…") || len([]rune(conv.Title)) > 61 {
		t.Errorf("derived title %q", conv.Title)
	}
}

// Only the newest history that fits the budget is sent.
func TestContextBudget(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.LLMContextTokens = 300 })
	for i := range 6 {
		msg := fmt.Sprintf("message %d %s", i, strings.Repeat("x", 200))
		if r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": msg}); r.StatusCode != http.StatusCreated {
			t.Fatalf("send: %d", r.StatusCode)
		}
	}
	reqs := f.fake.Requests()
	last := reqs[len(reqs)-1].Messages
	if len(last) >= 12 || !strings.HasPrefix(last[len(last)-1].Content, "message 5") {
		t.Fatalf("sent %d messages", len(last))
	}
	// The kept history is the newest: it ends right before the new message.
	if len(last) > 1 && last[len(last)-2].Content != "Hello, world!" {
		t.Errorf("history does not end with the last reply: %+v", last)
	}
}

func TestListConversationsPagesAndSearch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	titles := []string{"Cooking 100%", "Lisbon trip", "cooking_pasta", "Taxes", "Cooking for two"}
	for _, title := range titles {
		f.newConversation(f.token, map[string]any{"title": title})
	}
	var seen []string
	path := "/api/v1/conversations?limit=2"
	for range 10 {
		r := f.call(http.MethodGet, path, nil)
		var l api.ConversationList
		r.JSON(t, &l)
		for _, c := range l.Items {
			seen = append(seen, c.Title)
		}
		if l.NextCursor == nil {
			break
		}
		path = "/api/v1/conversations?limit=2&cursor=" + *l.NextCursor
	}
	// Newest first: the last created, then back to the fixture's own (untitled) one.
	want := "Cooking for two|Taxes|cooking_pasta|Lisbon trip|Cooking 100%|"
	if strings.Join(seen, "|") != want {
		t.Errorf("pages: %q", strings.Join(seen, "|"))
	}
	search := func(q string) string {
		r := f.call(http.MethodGet, "/api/v1/conversations?q="+q, nil)
		var l api.ConversationList
		r.JSON(t, &l)
		var out []string
		for _, c := range l.Items {
			out = append(out, c.Title)
		}
		return strings.Join(out, "|")
	}
	if got := search("COOKING"); got != "Cooking for two|cooking_pasta|Cooking 100%" {
		t.Errorf("q=COOKING: %q", got)
	}
	if got := search("100%25"); got != "Cooking 100%" {
		t.Errorf("q=100%%: %q (wildcards must be literal)", got)
	}
	if got := search("g_p"); got != "cooking_pasta" {
		t.Errorf("q=g_p: %q", got)
	}
	// Sending a message moves a conversation to the front.
	f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "hi"})
	r := f.call(http.MethodGet, "/api/v1/conversations?limit=1", nil)
	var l api.ConversationList
	r.JSON(t, &l)
	if l.Items[0].Id != f.conv.Id || l.Items[0].Title != "hi" {
		t.Errorf("after a message, first is %+v", l.Items[0])
	}
}

// Paging through messages while new ones arrive: nothing is skipped or repeated.
func TestMessagePaginationWhileInserting(t *testing.T) {
	t.Parallel()
	env := apitest.New(t) // echo provider, no delay
	s := env.Register("ada@example.com", "correct horse battery")
	r := env.As(s.AccessToken, http.MethodPost, "/api/v1/conversations", map[string]any{})
	var c api.Conversation
	r.JSON(t, &c)
	base := "/api/v1/conversations/" + c.Id.String() + "/messages"
	send := func(i int) {
		if r := env.As(s.AccessToken, http.MethodPost, base, map[string]any{"content": fmt.Sprint("m", i)}); r.StatusCode != http.StatusCreated {
			t.Fatalf("send: %d %s", r.StatusCode, r.Body)
		}
	}
	for i := range 5 {
		send(i)
	}
	var ids []string
	path := base + "?limit=3"
	for page := 0; page < 20; page++ {
		r := env.As(s.AccessToken, http.MethodGet, path, nil)
		var l api.MessageList
		r.JSON(t, &l)
		for _, m := range l.Items {
			ids = append(ids, m.Id.String())
		}
		if page < 3 {
			send(100 + page) // two more messages arrive between pages
		}
		if l.NextCursor == nil {
			break
		}
		path = base + "?limit=3&cursor=" + *l.NextCursor
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("message %s listed twice", id)
		}
		seen[id] = true
	}
	if len(ids) != 16 { // 8 exchanges of two messages
		t.Fatalf("listed %d messages, want 16", len(ids))
	}
	r = env.As(s.AccessToken, http.MethodGet, base+"?limit=100", nil)
	var all api.MessageList
	r.JSON(t, &all)
	if all.Items[1].Content != llm.EchoReply("m0") || all.Items[1].Role != api.MessageRoleAssistant {
		t.Errorf("echo reply: %+v", all.Items[1])
	}
}

// Someone else's conversation and messages are 404 on every operation, and bad input is
// a 4xx envelope on every operation.
func TestOwnershipAndBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "mine"})
	var ex api.Exchange
	r.JSON(t, &ex)
	mid := ex.AssistantMessage.Id.String()
	eve := f.env.Register("eve@example.com", "correct horse battery").AccessToken

	conv := f.convPath("")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", conv, nil},
		{"PATCH", conv, map[string]any{"title": "pwned"}},
		{"DELETE", conv, nil},
		{"GET", conv + "/messages", nil},
		{"POST", conv + "/messages", map[string]any{"content": "x"}},
		{"POST", conv + "/messages/stream", map[string]any{"content": "x"}},
		{"GET", conv + "/messages/" + mid + "/events", nil},
		{"POST", conv + "/messages/" + mid + "/cancel", nil},
	} {
		if r := f.env.As(eve, c.method, c.path, c.body); r.StatusCode != http.StatusNotFound {
			t.Errorf("eve %s %s: %d", c.method, c.path, r.StatusCode)
		}
	}
	if r := f.call(http.MethodGet, conv, nil); r.StatusCode != http.StatusOK || strings.Contains(string(r.Body), "pwned") {
		t.Errorf("the owner's conversation changed: %s", r.Body)
	}
	var l api.ConversationList
	f.env.As(eve, http.MethodGet, "/api/v1/conversations", nil).JSON(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("eve lists %d conversations", len(l.Items))
	}

	missing := "/api/v1/conversations/" + uuid.Must(uuid.NewV7()).String()
	// A user message has no events; a message of another conversation is not found there.
	userMsg := ex.UserMessage.Id.String()
	other := f.newConversation(f.token, map[string]any{})
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", missing, nil, 404},
		{"GET", "/api/v1/conversations/nope", nil, 422},
		{"GET", "/api/v1/conversations?limit=0", nil, 422},
		{"GET", "/api/v1/conversations?q=", nil, 422},
		{"POST", "/api/v1/conversations", map[string]any{"title": strings.Repeat("t", 201)}, 422},
		{"POST", "/api/v1/conversations", map[string]any{"owner": "eve"}, 422},
		{"POST", "/api/v1/conversations", `{"title":`, 400},
		{"POST", conv + "/messages", map[string]any{"content": ""}, 422},
		{"POST", conv + "/messages", map[string]any{"content": strings.Repeat("a", 32001)}, 422},
		{"POST", conv + "/messages", map[string]any{"text": "hi"}, 422},
		{"POST", conv + "/messages/stream", map[string]any{"content": 5}, 422},
		{"POST", conv + "/messages/stream", "not json", 400},
		{"GET", conv + "/messages?cursor=zzz", nil, 422},
		{"GET", conv + "/messages/" + userMsg + "/events", nil, 404},
		{"GET", "/api/v1/conversations/" + other.Id.String() + "/messages/" + mid + "/events", nil, 404},
		{"POST", conv + "/messages/not-a-uuid/cancel", nil, 422},
		{"POST", missing + "/messages", map[string]any{"content": "x"}, 404},
	} {
		if r := f.call(c.method, c.path, c.body); r.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.StatusCode, c.status, r.Body)
		}
	}
	req := f.env.Request(http.MethodGet, conv+"/messages/"+mid+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Last-Event-ID", "abc")
	if r := f.env.Do(req); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad Last-Event-ID: %d", r.StatusCode)
	}
}

// A dead process's replies are failed as interrupted; checkpoints keep the partial text of
// a running one in the database.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	f := setup(t)
	step := make(chan struct{})
	defer close(step)
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"saved ", "later"}, Step: step})
	s := f.stream("hi")
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	s.MustNext(t)
	waitFor(t, "a checkpoint", func() bool {
		m := f.stored(fe.AssistantMessageID)
		return m.Status == api.Streaming && m.Content == "saved "
	})

	// A reply left streaming by a process that died long ago.
	ctx := context.Background()
	ghost := uuid.Must(uuid.NewV7())
	other := f.newConversation(f.token, map[string]any{})
	if _, err := f.env.Pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, role, content, status, updated_at)
		VALUES ($1, $2, 'assistant', 'half an ans', 'streaming', now() - interval '5 minutes')`, ghost, other.Id); err != nil {
		t.Fatal(err)
	}
	n, err := f.env.App.Generations.SweepStale(ctx, 30*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	var status, code, content string
	if err := f.env.Pool.QueryRow(ctx, "SELECT status, error_code, content FROM messages WHERE id = $1", ghost).Scan(&status, &code, &content); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || code != "interrupted" || content != "half an ans" {
		t.Errorf("ghost: %s %s %q", status, code, content)
	}
	// The live reply, checkpointed a moment ago, is not touched.
	if m := f.stored(fe.AssistantMessageID); m.Status != api.Streaming {
		t.Errorf("a live reply was swept: %+v", m)
	}
}

// On shutdown, running replies get until the deadline, then are cancelled and stored, and
// open streams get a final event.
func TestShutdownStoresRunningReplies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	step := make(chan struct{}) // never released
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"before shutdown ", "never"}, Step: step})
	s := f.stream("hi")
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	s.MustNext(t)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	f.env.App.Generations.Shutdown(ctx)

	done := s.MustNext(t)
	var m api.Message
	done.Decode(t, &m)
	if done.Name != "done" || m.Status != api.Cancelled || m.ErrorCode == nil || *m.ErrorCode != "shutdown" || m.Content != "before shutdown " {
		t.Fatalf("final event %+v", done)
	}
	if got := f.stored(fe.AssistantMessageID); got.Status != api.Cancelled || got.Content != "before shutdown " {
		t.Errorf("stored %+v", got)
	}
	waitFor(t, "the provider to see the cancellation", func() bool { return f.fake.Cancelled() == 1 })
}

// A second key differing only in case cannot slip a value past the schema (encoding/json
// alone matches keys case-insensitively): the schemas forbid unknown properties, and the
// handler binds the value the validator checked.
func TestBodyKeysAreExact(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for path, body := range map[string]string{
		"/api/v1/conversations": `{"title":"Checked","TITLE":"` + strings.Repeat("x", 500) + `"}`,
		f.convPath("/messages"): `{"content":"hi","CONTENT":""}`,
	} {
		r := f.call(http.MethodPost, path, body)
		e := r.Envelope(t)
		if r.StatusCode != http.StatusUnprocessableEntity || e.Details == nil || !strings.Contains((*e.Details)[0].Message, "unsupported") {
			t.Errorf("%s: %d %s", path, r.StatusCode, r.Body)
		}
	}
}
