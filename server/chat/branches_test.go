package chat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/database"
	"assistant/server/testutil/fakeopenai"
)

// sendUnder sends a message (under parent, or after the current message when nil) and
// answers with the exchange; the reply's text is reply.
func (f *fixture) sendUnder(content string, parent *uuid.UUID, reply string) api.Exchange {
	f.t.Helper()
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{reply}})
	body := map[string]any{"content": content}
	if parent != nil {
		body["parent_id"] = parent.String()
	}
	r := f.call(http.MethodPost, f.convPath("/messages"), body)
	if r.StatusCode != http.StatusCreated {
		f.t.Fatalf("send %q: %d %s", content, r.StatusCode, r.Body)
	}
	var e api.Exchange
	r.JSON(f.t, &e)
	return e
}

// regenerate answers a message again; the new reply's text is reply.
func (f *fixture) regenerate(id uuid.UUID, reply string) api.Message {
	f.t.Helper()
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{reply}})
	r := f.call(http.MethodPost, f.convPath("/messages/"+id.String()+"/regenerate"), nil)
	if r.StatusCode != http.StatusCreated {
		f.t.Fatalf("regenerate %s: %d %s", id, r.StatusCode, r.Body)
	}
	var out api.Regenerated
	r.JSON(f.t, &out)
	return out.AssistantMessage
}

// branch lists the branch shown, page by page (limit per page), as the messages' contents.
func (f *fixture) branch(limit int) []api.Message {
	f.t.Helper()
	var out []api.Message
	cursor := ""
	for {
		path := f.convPath("/messages?limit=" + strconv.Itoa(limit))
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := f.call(http.MethodGet, path, nil)
		if r.StatusCode != http.StatusOK {
			f.t.Fatalf("list: %d %s", r.StatusCode, r.Body)
		}
		var l api.MessageList
		r.JSON(f.t, &l)
		out = append(out, l.Items...)
		if l.NextCursor == nil {
			return out
		}
		cursor = *l.NextCursor
	}
}

// switchTo sets the conversation's current message.
func (f *fixture) switchTo(id uuid.UUID) api.Conversation {
	f.t.Helper()
	r := f.call(http.MethodPatch, f.convPath(""), map[string]any{"current_message_id": id.String()})
	if r.StatusCode != http.StatusOK {
		f.t.Fatalf("switch to %s: %d %s", id, r.StatusCode, r.Body)
	}
	var c api.Conversation
	r.JSON(f.t, &c)
	return c
}

// lastHistory is the messages of the provider's last request, as "role: content".
func (f *fixture) lastHistory() []string {
	f.t.Helper()
	reqs := f.fake.Requests()
	if len(reqs) == 0 {
		f.t.Fatal("the provider got no request")
	}
	var out []string
	for _, m := range reqs[len(reqs)-1].Messages {
		out = append(out, m.Role+": "+m.Content)
	}
	return out
}

// shown is a branch as "content [siblings]" lines, the siblings named by content.
func shown(msgs []api.Message, names map[uuid.UUID]string) []string {
	var out []string
	for _, m := range msgs {
		var sib []string
		for _, id := range m.SiblingIds {
			sib = append(sib, names[id])
		}
		out = append(out, m.Content+" ["+strings.Join(sib, " ")+"]")
	}
	return out
}

// A conversation with edits, regenerations, switches and a send on an old branch: each list
// shows the path to the current message with its siblings, and the model always sees
// exactly the path to the message it answers.
func TestBranchJourney(t *testing.T) {
	t.Parallel()
	f := setup(t)
	names := map[uuid.UUID]string{}
	name := func(ms ...api.Message) {
		for _, m := range ms {
			names[m.Id] = m.Content
		}
	}
	check := func(step string, want []string) {
		t.Helper()
		for _, limit := range []int{2, 9} { // a page of 2 walks the path with cursors
			if diff := cmp.Diff(want, shown(f.branch(limit), names)); diff != "" {
				t.Errorf("%s: branch (limit %d) (-want +got):\n%s", step, limit, diff)
			}
		}
	}
	history := func(step string, want ...string) {
		t.Helper()
		if diff := cmp.Diff(want, f.lastHistory()); diff != "" {
			t.Errorf("%s: the model saw (-want +got):\n%s", step, diff)
		}
	}

	e1 := f.sendUnder("q1", nil, "a1")
	e2 := f.sendUnder("q2", nil, "a2")
	name(e1.UserMessage, e1.AssistantMessage, e2.UserMessage, e2.AssistantMessage)
	history("second message", "user: q1", "assistant: a1", "user: q2")
	if e2.UserMessage.ParentId == nil || *e2.UserMessage.ParentId != e1.AssistantMessage.Id {
		t.Errorf("q2 follows %v, want a1 %s", e2.UserMessage.ParentId, e1.AssistantMessage.Id)
	}

	// Edit q2: its new text under the same parent.
	e3 := f.sendUnder("q2 edited", &e1.AssistantMessage.Id, "a3")
	name(e3.UserMessage, e3.AssistantMessage)
	history("edit", "user: q1", "assistant: a1", "user: q2 edited")
	if diff := cmp.Diff([]uuid.UUID{e2.UserMessage.Id, e3.UserMessage.Id}, e3.UserMessage.SiblingIds); diff != "" {
		t.Errorf("the edit's siblings (-want +got):\n%s", diff)
	}
	check("after the edit", []string{"q1 [q1]", "a1 [a1]", "q2 edited [q2 q2 edited]", "a3 [a3]"})

	// Regenerate twice: once given the reply, once given the user message.
	r1 := f.regenerate(e3.AssistantMessage.Id, "a3 again")
	name(r1)
	history("first regenerate", "user: q1", "assistant: a1", "user: q2 edited")
	r2 := f.regenerate(e3.UserMessage.Id, "a3 third")
	name(r2)
	history("second regenerate", "user: q1", "assistant: a1", "user: q2 edited")
	if r2.ParentId == nil || *r2.ParentId != e3.UserMessage.Id {
		t.Errorf("the regenerated reply follows %v, want %s", r2.ParentId, e3.UserMessage.Id)
	}
	check("after two regenerations", []string{"q1 [q1]", "a1 [a1]", "q2 edited [q2 q2 edited]", "a3 third [a3 a3 again a3 third]"})
	conv := f.switchTo(r2.Id) // unchanged: it is the current one already
	if conv.CurrentMessageId == nil || *conv.CurrentMessageId != r2.Id {
		t.Errorf("current message %v, want the last regenerated %s", conv.CurrentMessageId, r2.Id)
	}

	// Switch back to the first branch, and send on it.
	f.switchTo(e2.AssistantMessage.Id)
	check("switched to the old branch", []string{"q1 [q1]", "a1 [a1]", "q2 [q2 q2 edited]", "a2 [a2]"})
	e4 := f.sendUnder("q4", nil, "a4")
	name(e4.UserMessage, e4.AssistantMessage)
	history("send on the old branch", "user: q1", "assistant: a1", "user: q2", "assistant: a2", "user: q4")
	check("sent on the old branch", []string{"q1 [q1]", "a1 [a1]", "q2 [q2 q2 edited]", "a2 [a2]", "q4 [q4]", "a4 [a4]"})

	// Any message may be the current one: the branch shown ends there.
	f.switchTo(e3.UserMessage.Id)
	check("switched to a user message", []string{"q1 [q1]", "a1 [a1]", "q2 edited [q2 q2 edited]"})
	// Sending after a user message makes the new message its sibling.
	e5 := f.sendUnder("q2 third", nil, "a5")
	name(e5.UserMessage, e5.AssistantMessage)
	history("send after a user message", "user: q1", "assistant: a1", "user: q2 third")
	check("after a send from a user message", []string{"q1 [q1]", "a1 [a1]", "q2 third [q2 q2 edited q2 third]", "a5 [a5]"})

	// Regenerating the first answer sees only the first message.
	r3 := f.regenerate(e1.UserMessage.Id, "a1 again")
	name(r3)
	history("regenerate the first answer", "user: q1")
	check("after regenerating the first answer", []string{"q1 [q1]", "a1 again [a1 a1 again]"})
}

// A regenerated reply streams like a sent one: message (RegenerateEvent), delta, done.
func TestRegenerateStreamed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	e := f.sendUnder("hello", nil, "first")
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"sec", "ond"}})
	req := f.env.Request(http.MethodPost, f.convPath("/messages/"+e.AssistantMessage.Id.String()+"/regenerate/stream"), nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	s := f.env.OpenStream(req)
	events := s.Rest(t)
	var names []string
	for _, ev := range events {
		names = append(names, ev.Name)
	}
	if diff := cmp.Diff([]string{"message", "delta", "delta", "done"}, names); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	var first api.RegenerateEvent
	events[0].Decode(t, &first)
	if first.UserMessage.Id != e.UserMessage.Id {
		t.Errorf("message event's user message %s, want %s", first.UserMessage.Id, e.UserMessage.Id)
	}
	var done api.Message
	events[3].Decode(t, &done)
	if done.Id != first.AssistantMessageId || done.Content != "second" || done.Status != api.Complete {
		t.Errorf("done %s %q %s, want %s \"second\" complete", done.Id, done.Content, done.Status, first.AssistantMessageId)
	}
	if diff := cmp.Diff([]uuid.UUID{e.AssistantMessage.Id, done.Id}, done.SiblingIds); diff != "" {
		t.Errorf("the new reply's siblings (-want +got):\n%s", diff)
	}
	got := f.branch(9)
	if len(got) != 2 || got[1].Id != done.Id {
		t.Errorf("the branch shown does not end at the new reply: %+v", got)
	}
}

// One reply runs per conversation: a regenerate while one runs is 409, plain or streamed.
func TestRegenerateWhileAReplyRunsIsAConflict(t *testing.T) {
	t.Parallel()
	f := setup(t)
	e := f.sendUnder("hello", nil, "first")
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"held ", "reply"}, Step: step})
	s := f.stream("again")
	s.MustNext(t) // message: the reply is running
	for _, suffix := range []string{"/regenerate", "/regenerate/stream"} {
		r := f.call(http.MethodPost, f.convPath("/messages/"+e.UserMessage.Id.String()+suffix), nil)
		if r.StatusCode != http.StatusConflict {
			t.Errorf("%s while a reply runs: %d %s, want 409", suffix, r.StatusCode, r.Body)
		}
	}
	close(step)
	s.Rest(t)
}

// Ids that are someone else's, of another conversation, of the wrong kind, or of nothing.
func TestBranchesRefuseForeignAndHostileIds(t *testing.T) {
	t.Parallel()
	f := setup(t)
	e := f.sendUnder("hello", nil, "hi")
	other := f.newConversation(f.token, map[string]any{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"x"}})
	r := f.call(http.MethodPost, "/api/v1/conversations/"+other.Id.String()+"/messages", map[string]any{"content": "elsewhere"})
	var otherEx api.Exchange
	r.JSON(t, &otherEx)
	eve := f.env.Register("eve@example.com", "correct horse battery")
	random := uuid.New()

	cases := []struct {
		name, token, method, path string
		body                      any
		status                    int
		field                     string
	}{
		{"send under a user message", f.token, http.MethodPost, f.convPath("/messages"), map[string]any{"content": "x", "parent_id": e.UserMessage.Id}, 422, "body.parent_id"},
		{"send under another conversation's reply", f.token, http.MethodPost, f.convPath("/messages"), map[string]any{"content": "x", "parent_id": otherEx.AssistantMessage.Id}, 422, "body.parent_id"},
		{"send under nothing", f.token, http.MethodPost, f.convPath("/messages"), map[string]any{"content": "x", "parent_id": random}, 422, "body.parent_id"},
		{"stream under nothing", f.token, http.MethodPost, f.convPath("/messages/stream"), map[string]any{"content": "x", "parent_id": random}, 422, "body.parent_id"},
		{"switch to nothing", f.token, http.MethodPatch, f.convPath(""), map[string]any{"current_message_id": random}, 422, "body.current_message_id"},
		{"switch to another conversation's message", f.token, http.MethodPatch, f.convPath(""), map[string]any{"current_message_id": otherEx.UserMessage.Id}, 422, "body.current_message_id"},
		{"regenerate nothing", f.token, http.MethodPost, f.convPath("/messages/" + random.String() + "/regenerate"), nil, 404, ""},
		{"regenerate another conversation's message", f.token, http.MethodPost, f.convPath("/messages/" + otherEx.UserMessage.Id.String() + "/regenerate/stream"), nil, 404, ""},
		{"regenerate in a conversation of nobody", f.token, http.MethodPost, "/api/v1/conversations/" + random.String() + "/messages/" + e.UserMessage.Id.String() + "/regenerate", nil, 404, ""},
		{"someone else regenerates", eve.AccessToken, http.MethodPost, f.convPath("/messages/" + e.UserMessage.Id.String() + "/regenerate"), nil, 404, ""},
		{"someone else regenerates streamed", eve.AccessToken, http.MethodPost, f.convPath("/messages/" + e.UserMessage.Id.String() + "/regenerate/stream"), nil, 404, ""},
		{"someone else sends under a reply", eve.AccessToken, http.MethodPost, f.convPath("/messages"), map[string]any{"content": "x", "parent_id": e.AssistantMessage.Id}, 404, ""},
		{"someone else switches", eve.AccessToken, http.MethodPatch, f.convPath(""), map[string]any{"current_message_id": e.UserMessage.Id}, 404, ""},
		{"someone else's id to switch to", eve.AccessToken, http.MethodPatch, "/api/v1/conversations/" + random.String(), map[string]any{"current_message_id": e.UserMessage.Id}, 404, ""},
	}
	for _, c := range cases {
		r := f.env.As(c.token, c.method, c.path, c.body)
		if r.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.StatusCode, r.Body, c.status)
			continue
		}
		if c.field != "" {
			env := r.Envelope(t)
			if env.Details == nil || len(*env.Details) == 0 || (*env.Details)[0].Field != c.field {
				t.Errorf("%s: details %+v, want the field %s", c.name, env.Details, c.field)
			}
		}
	}
	// Nothing changed: the branch is the one exchange.
	if got := f.branch(9); len(got) != 2 || got[1].Id != e.AssistantMessage.Id {
		t.Errorf("the branch changed: %+v", got)
	}
}

// Conversations made before branches (each message following the one before it, the last
// one current, as the migration leaves them) list as one branch and go on from their end.
func TestLinearConversationsBeforeBranches(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for i, c := range []string{"old q1", "old a1", "old q2", "old a2"} {
		role := []string{"user", "assistant"}[i%2]
		id := database.NewID()
		ids = append(ids, id)
		if _, err := f.env.Pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, role, content, status)
			VALUES ($1, $2, $3::message_role, $4, 'complete')`, id, f.conv.Id, role, c); err != nil {
			t.Fatal(err)
		}
	}
	// The migration's backfill, for this conversation.
	if _, err := f.env.Pool.Exec(ctx, `UPDATE messages m SET parent_id = (
		SELECT p.id FROM messages p WHERE p.conversation_id = m.conversation_id AND p.id < m.id
		ORDER BY p.id DESC LIMIT 1) WHERE m.conversation_id = $1`, f.conv.Id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Pool.Exec(ctx, `UPDATE conversations c SET current_message_id = (
		SELECT m.id FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1) WHERE c.id = $1`, f.conv.Id); err != nil {
		t.Fatal(err)
	}
	names := map[uuid.UUID]string{}
	for i, id := range ids {
		names[id] = []string{"old q1", "old a1", "old q2", "old a2"}[i]
	}
	want := []string{"old q1 [old q1]", "old a1 [old a1]", "old q2 [old q2]", "old a2 [old a2]"}
	if diff := cmp.Diff(want, shown(f.branch(3), names)); diff != "" {
		t.Errorf("the old conversation (-want +got):\n%s", diff)
	}
	f.sendUnder("new q", nil, "new a")
	if diff := cmp.Diff([]string{"user: old q1", "assistant: old a1", "user: old q2", "assistant: old a2", "user: new q"}, f.lastHistory()); diff != "" {
		t.Errorf("the model saw (-want +got):\n%s", diff)
	}
}

// Exports: Markdown shows the current branch; the JSON export keeps the whole tree.
func TestExportsOfABranchedConversation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	e1 := f.sendUnder("root question", nil, "root answer")
	f.sendUnder("first follow-up", nil, "first reply")
	e3 := f.sendUnder("edited follow-up", &e1.AssistantMessage.Id, "edited reply")
	export := func(format string) []byte {
		t.Helper()
		r := f.call(http.MethodPost, f.convPath("/exports"), map[string]any{"format": format})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("export %s: %d %s", format, r.StatusCode, r.Body)
		}
		var ex api.Export
		r.JSON(t, &ex)
		d := f.call(http.MethodGet, "/api/v1/exports/"+ex.Id.String()+"/content", nil)
		if d.StatusCode != http.StatusOK {
			t.Fatalf("download %s: %d", format, d.StatusCode)
		}
		return d.Body
	}
	md := string(export("markdown"))
	for _, s := range []string{"root question", "root answer", "edited follow-up", "edited reply"} {
		if !strings.Contains(md, s) {
			t.Errorf("the Markdown export lacks %q of the current branch:\n%s", s, md)
		}
	}
	for _, s := range []string{"first follow-up", "first reply"} {
		if strings.Contains(md, s) {
			t.Errorf("the Markdown export shows %q of another branch:\n%s", s, md)
		}
	}
	var doc struct {
		Conversation api.Conversation `json:"conversation"`
		Messages     []api.Message    `json:"messages"`
	}
	if err := json.Unmarshal(export("json"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Messages) != 6 {
		t.Fatalf("the JSON export has %d messages, want the whole tree of 6", len(doc.Messages))
	}
	parents := map[string]string{}
	content := map[uuid.UUID]string{}
	for _, m := range doc.Messages {
		content[m.Id] = m.Content
	}
	for _, m := range doc.Messages {
		p := ""
		if m.ParentId != nil {
			p = content[*m.ParentId]
		}
		parents[m.Content] = p
	}
	want := map[string]string{"root question": "", "root answer": "root question", "first follow-up": "root answer",
		"first reply": "first follow-up", "edited follow-up": "root answer", "edited reply": "edited follow-up"}
	if diff := cmp.Diff(want, parents); diff != "" {
		t.Errorf("the JSON export's tree (-want +got):\n%s", diff)
	}
	if doc.Conversation.CurrentMessageId == nil || *doc.Conversation.CurrentMessageId != e3.AssistantMessage.Id {
		t.Errorf("the JSON export's current message %v, want %s", doc.Conversation.CurrentMessageId, e3.AssistantMessage.Id)
	}
}

// Regenerating spends the daily budget as sending does: refused (429 quota_exceeded) on
// both endpoints once it is used up, storing nothing.
func TestRegenerateIsWithinTheDailyBudget(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.UserDailyTokenBudget = 30 })
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"x"}, PromptTokens: 40})
	r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "hi"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
	var e api.Exchange
	r.JSON(t, &e)
	for _, suffix := range []string{"/regenerate", "/regenerate/stream"} {
		quotaExceeded(t, f.call(http.MethodPost, f.convPath("/messages/"+e.AssistantMessage.Id.String()+suffix), nil))
	}
	got := f.branch(9)
	if len(got) != 2 || len(got[1].SiblingIds) != 1 || len(f.fake.Requests()) != 1 {
		t.Fatalf("a refused regenerate was stored or sent: %+v, %d requests", got, len(f.fake.Requests()))
	}
}

// Editing the first message is one call: parent_id null makes a new first message, a
// sibling of the old one, and its branch is shown.
func TestEditTheFirstMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.sendUnder("first question", nil, "first answer")
	f.sendUnder("follow-up", nil, "second answer")
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"answer to the edit"}})
	r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "first question, edited", "parent_id": nil})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("send with parent_id null: %d %s", r.StatusCode, r.Body)
	}
	var e api.Exchange
	r.JSON(t, &e)
	if e.UserMessage.ParentId != nil {
		t.Errorf("the edited first message has a parent: %v", e.UserMessage.ParentId)
	}
	branch := f.branch(20)
	if len(branch) != 2 || branch[0].Id != e.UserMessage.Id || branch[1].Id != e.AssistantMessage.Id {
		t.Fatalf("the branch shown after the edit: %+v", branch)
	}
	if diff := cmp.Diff([]uuid.UUID{first.UserMessage.Id, e.UserMessage.Id}, branch[0].SiblingIds); diff != "" {
		t.Errorf("the first messages' versions (-want +got):\n%s", diff)
	}
}
