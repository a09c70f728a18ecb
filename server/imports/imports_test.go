package imports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/database"
	"assistant/server/testutil/apitest"
)

// upload sends content as the file of POST /imports.
func upload(env *apitest.Env, token string, content io.Reader) *apitest.Response {
	body, ct := apitest.Multipart(`form-data; name="file"; filename="conversations.json"`, content)
	req := env.Request(http.MethodPost, "/api/v1/imports", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	return env.Do(req)
}

func imported(t *testing.T, env *apitest.Env, token string, content string) api.ImportResult {
	t.Helper()
	r := upload(env, token, strings.NewReader(content))
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %s", r.StatusCode, r.Body)
	}
	var res api.ImportResult
	r.JSON(t, &res)
	return res
}

// row is a stored message, its parent as the position of the parent among the
// conversation's messages in id order (-1 for a root).
type row struct {
	Parent  int
	Role    string
	Content string
	Model   string
	Created time.Time
}

// stored is a conversation's messages in id order, and the position of its current one.
func stored(t *testing.T, env *apitest.Env, conv uuid.UUID) (rows []row, current int) {
	t.Helper()
	ctx := t.Context()
	rs, err := env.Pool.Query(ctx, `SELECT id, parent_id, role::text, content, coalesce(model, ''), created_at
		FROM messages WHERE conversation_id = $1 ORDER BY id`, conv)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	at := map[uuid.UUID]int{}
	var parents []*uuid.UUID
	for rs.Next() {
		var id uuid.UUID
		var parent *uuid.UUID
		var r row
		if err := rs.Scan(&id, &parent, &r.Role, &r.Content, &r.Model, &r.Created); err != nil {
			t.Fatal(err)
		}
		at[id] = len(rows)
		rows = append(rows, r)
		parents = append(parents, parent)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	for i, p := range parents {
		rows[i].Parent = -1
		if p != nil {
			pos, ok := at[*p]
			if !ok || pos >= i {
				t.Fatalf("message %d has parent %v, not an earlier message of the conversation", i, *p)
			}
			rows[i].Parent = pos
		}
	}
	var cur *uuid.UUID
	if err := env.Pool.QueryRow(ctx, `SELECT current_message_id FROM conversations WHERE id = $1`, conv).Scan(&cur); err != nil {
		t.Fatal(err)
	}
	current = -1
	if cur != nil {
		current = at[*cur]
	}
	return rows, current
}

// counts is how many conversations and messages the database holds.
func counts(t testing.TB, env *apitest.Env) [2]int {
	t.Helper()
	var c [2]int
	if err := env.Pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)`).
		Scan(&c[0], &c[1]); err != nil {
		t.Fatal(err)
	}
	return c
}

func unix(sec float64) time.Time {
	return time.UnixMicro(int64(math.Round(sec * 1e6))).UTC()
}

// chatGPT is a ChatGPT conversations.json with two conversations of one tree: the answer to
// "Hello?" was regenerated (two assistant siblings), the conversation went on under the
// second, through a tool call; a system node and the empty root are left out. The first
// shows the newest branch, the second (the same tree) the first answer.
const chatGPTTree = `{"root": {"id": "root", "parent": null, "children": ["sys"], "message": null},
  "sys": {"id": "sys", "parent": "root", "children": ["u1"], "message": {"author": {"role": "system"},
    "content": {"content_type": "text", "parts": [""]}, "create_time": null, "metadata": {"is_visually_hidden_from_conversation": true}}},
  "u1": {"id": "u1", "parent": "sys", "children": ["a1", "a1b"], "message": {"author": {"role": "user"},
    "content": {"content_type": "text", "parts": ["Hello?"]}, "create_time": 1700000001.25}},
  "a1b": {"id": "a1b", "parent": "u1", "children": ["u2"], "message": {"author": {"role": "assistant"},
    "content": {"content_type": "text", "parts": ["Second answer"]}, "create_time": 1700000003, "metadata": {"model_slug": "gpt-4o"}}},
  "a1": {"id": "a1", "parent": "u1", "children": [], "message": {"author": {"role": "assistant"},
    "content": {"content_type": "text", "parts": ["First answer"]}, "create_time": 1700000002, "metadata": {"model_slug": "gpt-4o"}}},
  "u2": {"id": "u2", "parent": "a1b", "children": ["tool"], "message": {"author": {"role": "user"},
    "content": {"content_type": "multimodal_text", "parts": [{"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"}, "Thanks"]}, "create_time": 1700000004}},
  "tool": {"id": "tool", "parent": "u2", "children": ["a2"], "message": {"author": {"role": "tool", "name": "browser"},
    "content": {"content_type": "text", "parts": ["search results"]}, "create_time": 1700000005}},
  "a2": {"id": "a2", "parent": "tool", "children": [], "message": {"author": {"role": "assistant"},
    "content": {"content_type": "text", "parts": ["You're welcome"]}, "create_time": 1700000006, "recipient": "all"}}}`

var chatGPT = `[
 {"title": "Branches", "create_time": 1700000000.5, "update_time": 1700000100.25, "current_node": "a2", "mapping": ` + chatGPTTree + `},
 {"title": "First branch", "create_time": 1700000000.5, "update_time": 1700000100.25, "current_node": "a1", "mapping": ` + chatGPTTree + `}
]`

func TestChatGPTExportKeepsBranchesAndTimes(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	res := imported(t, env, token, chatGPT)
	if res.Conversations != 2 || res.Messages != 10 || len(res.ConversationIds) != 2 || len(res.Skipped) != 0 {
		t.Fatalf("result %+v", res)
	}
	want := []row{
		{Parent: -1, Role: "user", Content: "Hello?", Created: unix(1700000001.25)},
		{Parent: 0, Role: "assistant", Content: "First answer", Model: "gpt-4o", Created: unix(1700000002)},
		{Parent: 0, Role: "assistant", Content: "Second answer", Model: "gpt-4o", Created: unix(1700000003)},
		{Parent: 2, Role: "user", Content: "Thanks", Created: unix(1700000004)},
		{Parent: 3, Role: "assistant", Content: "You're welcome", Created: unix(1700000006)},
	}
	for i, wantCurrent := range []int{4, 1} {
		rows, current := stored(t, env, res.ConversationIds[i])
		if d := cmp.Diff(want, rows); d != "" {
			t.Errorf("conversation %d messages (-want +got):\n%s", i, d)
		}
		if current != wantCurrent {
			t.Errorf("conversation %d: current message is #%d, want #%d (current_node)", i, current, wantCurrent)
		}
	}
	r := env.As(token, http.MethodGet, "/api/v1/conversations/"+res.ConversationIds[0].String(), nil)
	var c api.Conversation
	r.JSON(t, &c)
	got := []any{c.Title, c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.LastMessageAt.UTC()}
	if d := cmp.Diff([]any{"Branches", unix(1700000000.5), unix(1700000100.25), unix(1700000006)}, got); d != "" {
		t.Errorf("conversation (-want +got):\n%s", d)
	}
}

func TestOpenWebUIExportTreeAndLinear(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	file := `[
	 {"id": "c1", "user_id": "u", "title": "Tree", "created_at": 1710000000, "updated_at": 1710000500, "archived": false,
	  "chat": {"title": "Tree", "models": ["llama3"],
	   "history": {"currentId": "m3", "messages": {
	     "m1": {"id": "m1", "parentId": null, "childrenIds": ["m2", "m3"], "role": "user", "content": "Bonjour", "timestamp": 1710000001},
	     "m2": {"id": "m2", "parentId": "m1", "childrenIds": [], "role": "assistant", "content": "Salut", "timestamp": 1710000002, "model": "llama3"},
	     "m3": {"id": "m3", "parentId": "m1", "childrenIds": [], "role": "assistant", "content": "Bonjour !", "timestamp": 1710000003, "model": "llama3"}}},
	   "messages": [{"id": "m1", "role": "user", "content": "Bonjour"}, {"id": "m3", "role": "assistant", "content": "Bonjour !"}]}},
	 {"id": "c2", "title": "Linear", "created_at": 1710001000, "updated_at": 1710001000,
	  "chat": {"title": "Linear", "messages": [
	    {"id": "x1", "role": "system", "content": "You are terse."},
	    {"id": "x2", "role": "user", "content": "2+2?", "timestamp": 1710001001},
	    {"id": "x3", "role": "assistant", "content": [{"type": "text", "text": "4"}], "timestamp": 1710001002}]}}
	]`
	res := imported(t, env, token, file)
	if res.Conversations != 2 || res.Messages != 5 || len(res.Skipped) != 0 {
		t.Fatalf("result %+v", res)
	}
	rows, current := stored(t, env, res.ConversationIds[0])
	want := []row{
		{Parent: -1, Role: "user", Content: "Bonjour", Created: time.Unix(1710000001, 0).UTC()},
		{Parent: 0, Role: "assistant", Content: "Salut", Model: "llama3", Created: time.Unix(1710000002, 0).UTC()},
		{Parent: 0, Role: "assistant", Content: "Bonjour !", Model: "llama3", Created: time.Unix(1710000003, 0).UTC()},
	}
	if d := cmp.Diff(want, rows); d != "" || current != 2 {
		t.Errorf("tree (-want +got):\n%s\ncurrent #%d, want #2", d, current)
	}
	rows, current = stored(t, env, res.ConversationIds[1])
	want = []row{
		{Parent: -1, Role: "user", Content: "2+2?", Created: time.Unix(1710001001, 0).UTC()},
		{Parent: 0, Role: "assistant", Content: "4", Created: time.Unix(1710001002, 0).UTC()},
	}
	if d := cmp.Diff(want, rows); d != "" || current != 1 {
		t.Errorf("linear (-want +got):\n%s\ncurrent #%d, want #1", d, current)
	}

	// One chat alone (not in a list) is read too.
	one := imported(t, env, token, `{"id": "c3", "title": "Alone", "chat": {"messages": [{"role": "user", "content": "hi"}]}}`)
	if one.Conversations != 1 || one.Messages != 1 {
		t.Fatalf("single chat: %+v", one)
	}
}

// export makes the JSON export of a conversation and returns it.
func export(t *testing.T, env *apitest.Env, token string, conv uuid.UUID) []byte {
	t.Helper()
	r := env.As(token, http.MethodPost, "/api/v1/conversations/"+conv.String()+"/exports", map[string]any{"format": "json"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("export: %d %s", r.StatusCode, r.Body)
	}
	var e api.Export
	r.JSON(t, &e)
	d := env.As(token, http.MethodGet, "/api/v1/exports/"+e.Id.String()+"/content", nil)
	if d.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %s", d.StatusCode, d.Body)
	}
	return d.Body
}

// exported is what an export says, without what an import renews (ids, times of the
// export): the title, system prompt, and each message's role, text and parent (by position).
type exported struct {
	Title, SystemPrompt string
	Messages            []row
	Current             int
}

func readExport(t *testing.T, b []byte) exported {
	t.Helper()
	var doc struct {
		Conversation api.Conversation `json:"conversation"`
		Messages     []api.Message    `json:"messages"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	out := exported{Title: doc.Conversation.Title, Current: -1}
	if doc.Conversation.SystemPrompt != nil {
		out.SystemPrompt = *doc.Conversation.SystemPrompt
	}
	at := map[uuid.UUID]int{}
	for i, m := range doc.Messages {
		at[m.Id] = i
		r := row{Parent: -1, Role: string(m.Role), Content: m.Content, Created: m.CreatedAt.UTC()}
		if m.ParentId != nil {
			r.Parent = at[*m.ParentId]
		}
		if m.Model != nil {
			r.Model = *m.Model
		}
		out.Messages = append(out.Messages, r)
	}
	if c := doc.Conversation.CurrentMessageId; c != nil {
		out.Current = at[*c]
	}
	return out
}

func TestOwnExportRoundTrip(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	r := env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "Путешествие · café", "system_prompt": "Be brief."})
	var conv api.Conversation
	r.JSON(t, &conv)
	// A tree: a question answered twice, the conversation going on under the first answer.
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var ids []uuid.UUID
	for i, m := range []struct {
		parent        int
		role, content string
	}{
		{-1, "user", "Where should I go? 🧭"},
		{0, "assistant", "Lisbon, then Sintra."},
		{0, "assistant", "شكراً — Porto."},
		{1, "user", "And to eat? 吃什么"},
		{3, "assistant", "Pastéis de nata.\n\n```\ncode\n```"},
	} {
		id := database.NewID()
		var parent *uuid.UUID
		if m.parent >= 0 {
			parent = &ids[m.parent]
		}
		if _, err := env.Pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, parent_id, role, content, status, model, created_at, updated_at)
			VALUES ($1, $2, $3, $4::text::message_role, $5, 'complete', CASE WHEN $4::text = 'assistant' THEN 'echo' END, $6, $6)`,
			id, conv.Id, parent, m.role, m.content, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := env.Pool.Exec(ctx, `UPDATE conversations SET current_message_id = $1 WHERE id = $2`, ids[4], conv.Id); err != nil {
		t.Fatal(err)
	}
	first := export(t, env, token, conv.Id)
	res := imported(t, env, token, string(first))
	if res.Conversations != 1 || res.Messages != 5 {
		t.Fatalf("result %+v", res)
	}
	again := export(t, env, token, res.ConversationIds[0])
	want, got := readExport(t, first), readExport(t, again)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("export of the import (-export of the original +export of the import):\n%s", d)
	}
	if len(want.Messages) != 5 || want.Messages[2].Parent != 0 || want.Current != 4 {
		t.Errorf("the original export is not the tree written: %+v", want)
	}

	// An export from before messages had parents is one branch in its order.
	var doc map[string]any
	if err := json.Unmarshal(first, &doc); err != nil {
		t.Fatal(err)
	}
	for _, m := range doc["messages"].([]any) {
		delete(m.(map[string]any), "parent_id")
	}
	delete(doc["conversation"].(map[string]any), "current_message_id")
	old, _ := json.Marshal(doc)
	res = imported(t, env, token, string(old))
	rows, current := stored(t, env, res.ConversationIds[0])
	for i, r := range rows {
		if r.Parent != i-1 || r.Content != want.Messages[i].Content {
			t.Errorf("linear import, message %d: %+v", i, r)
		}
	}
	if current != 4 {
		t.Errorf("linear import: current #%d, want the last", current)
	}
}

func TestHostileTextIsKeptByteForByte(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	texts := []string{
		"👩🏽‍💻 family: 👨‍👩‍👧‍👦 flags: 🇵🇹🇯🇵 keycap: 1️⃣",
		"עברית ומספרים 123 \u202Eevil\u202C العربية مع النص",
		"中文、日本語のテキスト、한국어 텍스트",
		"e\u0301 combining, zero\u200Bwidth, \uFEFF bom, \U0010FFFF max, tab\tend\r\n",
		strings.Repeat("長", 5000),
	}
	var msgs []string
	for i, s := range texts {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		b, _ := json.Marshal(map[string]any{"role": role, "content": s, "timestamp": 1710000000 + i})
		msgs = append(msgs, string(b))
	}
	title, _ := json.Marshal("标题 🧪 עברית")
	res := imported(t, env, token, `[{"title": `+string(title)+`, "chat": {"messages": [`+strings.Join(msgs, ",")+`]}}]`)
	rows, _ := stored(t, env, res.ConversationIds[0])
	var got []string
	for _, r := range rows {
		got = append(got, r.Content)
	}
	if d := cmp.Diff(texts, got); d != "" {
		t.Errorf("texts (-want +got):\n%s", d)
	}
	r := env.As(token, http.MethodGet, "/api/v1/conversations/"+res.ConversationIds[0].String(), nil)
	var c api.Conversation
	r.JSON(t, &c)
	if c.Title != "标题 🧪 עברית" {
		t.Errorf("title %q", c.Title)
	}
}

func TestImportsAreTheirOwners(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := env.Register("ada@example.com", "correct horse battery").AccessToken
	bob := env.Register("bob@example.com", "correct horse battery").AccessToken
	res := imported(t, env, ada, chatGPT)
	id := res.ConversationIds[0].String()
	if r := env.As(bob, http.MethodGet, "/api/v1/conversations/"+id, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("someone else's imported conversation: %d", r.StatusCode)
	}
	if r := env.As(bob, http.MethodGet, "/api/v1/conversations/"+id+"/messages", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("someone else's imported messages: %d", r.StatusCode)
	}
	var list api.ConversationList
	env.As(bob, http.MethodGet, "/api/v1/conversations", nil).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("bob lists %d conversations", len(list.Items))
	}
	env.As(ada, http.MethodGet, "/api/v1/conversations", nil).JSON(t, &list)
	if len(list.Items) != 2 {
		t.Errorf("ada lists %d conversations, want the 2 imported", len(list.Items))
	}
	// Without credentials: 401, nothing read.
	body, ct := apitest.Multipart(`form-data; name="file"; filename="c.json"`, strings.NewReader(chatGPT))
	req := env.Request(http.MethodPost, "/api/v1/imports", body)
	req.Header.Set("Content-Type", ct)
	if r := env.Do(req); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.StatusCode)
	}
}

// good is one valid conversation, to put before a bad part of a file: what it stored must
// be gone when the file fails as a whole.
const good = `{"title": "ok", "chat": {"messages": [{"role": "user", "content": "hello"}]}}`

func TestBadFilesStoreNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	deepInside := `[` + good + `, {"chat": {"messages": ` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}}]`
	for _, tc := range []struct {
		name, file, says string
	}{
		{"empty file", "", "is empty"},
		{"white space", " \n\t ", "is empty"},
		{"not JSON", "hello, this is text", "is not a format"},
		{"a PDF", "%PDF-1.7\n%âãÏÓ\n", "is not a format"},
		{"JSON of another shape", `{"users": [{"name": "ada"}]}`, "is not a format"},
		{"a list of numbers", `[1, 2, 3]`, "is not a format"},
		{"a list of strings", `["a", "b"]`, "is not a format"},
		{"a scalar", `42`, "is not a format"},
		{"an empty list", `[]`, "holds no conversations"},
		{"deeply nested arrays", deep, "nested more than"},
		{"deeply nested inside a conversation", deepInside, "nested more than"},
		{"cut short", `[` + good + `, {"title": "half", "chat": {"messa`, "ends in the middle"},
		{"cut after a conversation", `[` + good, "ends in the middle"},
		{"bad JSON inside", `[` + good + `, {"title": "x", "chat": {"messages": [}}]`, "is not valid JSON"},
		{"mismatched brackets", `[` + good + `, {"chat": [}]`, "is not valid JSON"},
		{"garbage after", `[` + good + `] trailing`, "after the end"},
		{"garbage between", `[` + good + ` x ` + good + `]`, "expected , or ]"},
		{"unescaped control character", "[" + good + `, {"chat": {"messages": [{"role": "user", "content": "a` + "\x01" + `b"}]}}]`, "is not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := upload(env, token, strings.NewReader(tc.file))
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%d %s", r.StatusCode, r.Body)
			}
			e := r.Envelope(t)
			if e.Details == nil || len(*e.Details) != 1 || (*e.Details)[0].Field != "body.file" || !strings.Contains((*e.Details)[0].Message, tc.says) {
				t.Errorf("details %s, want body.file saying %q", r.Body, tc.says)
			}
			if c := counts(t, env); c != [2]int{} {
				t.Errorf("stored %d conversations and %d messages", c[0], c[1])
			}
		})
	}
}

func TestBadConversationsAreSkipped(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	cycle := `{"title": "cycle", "mapping": {
	  "a": {"parent": "b", "children": ["b"], "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["a"]}}},
	  "b": {"parent": "a", "children": ["a"], "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["b"]}}}}}`
	self := `{"title": "self", "mapping": {
	  "a": {"parent": "a", "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["a"]}}}}}`
	nul := `{"title": "nul\u0000title", "mapping": {
	  "a": {"parent": null, "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["bad \u0000 text"]}}}}}`
	empty := `{"title": "only system", "mapping": {
	  "a": {"parent": null, "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": ["x"]}}}}}`
	dup := `{"conversation": {"title": "dup"}, "messages": [{"id": "m", "role": "user", "content": "a"}, {"id": "m", "role": "user", "content": "b"}]}`
	okGPT := `{"title": "fine", "mapping": {"a": {"parent": null, "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["fine"]}}}}}`
	file := "[" + okGPT + "," + cycle + "," + self + "," + nul + "," + empty + "," + dup + `, 7, {"x": 1}]`
	res := imported(t, env, token, file)
	if res.Conversations != 1 || res.Messages != 1 {
		t.Errorf("result %+v", res)
	}
	var reasons []string
	for _, s := range res.Skipped {
		reasons = append(reasons, s.Title+": "+s.Reason)
	}
	want := []string{
		"cycle: conversation 2 of the file: its messages' parent links form a cycle",
		"self: conversation 3 of the file: its messages' parent links form a cycle",
		"nultitle: conversation 4 of the file: a message contains a NUL character (\\u0000), which cannot be stored",
		"only system: conversation 5 of the file: it has no user or assistant message with text",
		`dup: conversation 6 of the file: two messages have the id "m"`,
		": conversation 7 of the file: it is not a conversation of a format this import reads",
		": conversation 8 of the file: it is not a conversation of a format this import reads",
	}
	if d := cmp.Diff(want, reasons); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
	if c := counts(t, env); c != [2]int{1, 1} {
		t.Errorf("stored %d conversations and %d messages, want 1 and 1", c[0], c[1])
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.MaxUploadBytes = 4096 }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	// Two conversations are stored before the file crosses the limit: they go again.
	file := "[" + good + "," + good + "," + strings.Repeat(" ", 8192) + good + "]"
	r := upload(env, token, strings.NewReader(file))
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", r.StatusCode, r.Body)
	}
	if c := counts(t, env); c != [2]int{} {
		t.Errorf("stored %d conversations and %d messages", c[0], c[1])
	}
	// Exactly the limit is fine.
	exact := "[" + good + "]"
	exact += strings.Repeat(" ", 4096-len(exact))
	if r := upload(env, token, strings.NewReader(exact)); r.StatusCode != http.StatusCreated {
		t.Errorf("a file of exactly MAX_UPLOAD_BYTES: %d %s", r.StatusCode, r.Body)
	}
}

func TestBoundsPerConversation(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.MaxUploadBytes = 32 << 20 }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	var many bytes.Buffer
	many.WriteString(`{"title": "many", "chat": {"messages": [`)
	for i := range 10_001 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `{"role": "user", "content": "%d"}`, i)
	}
	many.WriteString(`]}}`)
	huge := `{"title": "huge", "chat": {"messages": [{"role": "user", "content": "` + strings.Repeat("x", 9<<20) + `"}]}}`
	res := imported(t, env, token, "["+many.String()+","+huge+","+good+"]")
	want := []api.ImportSkipped{
		{Title: "many", Reason: "conversation 1 of the file: it has more than 10000 messages, the most one conversation may have"},
		{Title: "", Reason: "conversation 2 of the file: it is larger than 8388608 bytes, the most one conversation may take"},
	}
	if d := cmp.Diff(want, res.Skipped); d != "" || res.Conversations != 1 {
		t.Errorf("skipped (-want +got):\n%s\nresult %+v", d, res)
	}
}

func TestMissingFileAndSecondFile(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	body, ct := apitest.Multipart(`form-data; name="note"`, strings.NewReader("hi"))
	req := env.Request(http.MethodPost, "/api/v1/imports", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	if r := env.Do(req); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("no file part: %d %s", r.StatusCode, r.Body)
	}
	// Not multipart at all.
	req = env.Request(http.MethodPost, "/api/v1/imports", chatGPT)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if r := env.Do(req); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a JSON body: %d %s", r.StatusCode, r.Body)
	}
}

// TestClientGoneLeavesNothing sends a file slowly: while the first import runs, a second one
// of the same user is 429; when the client goes away, what the import stored is removed.
func TestClientGoneLeavesNothing(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	pr, pw := io.Pipe()
	defer pw.Close()
	body, ct := apitest.Multipart(`form-data; name="file"; filename="c.json"`, pr)
	ctx, cancel := context.WithCancel(t.Context())
	req := env.Request(http.MethodPost, "/api/v1/imports", body).WithContext(ctx)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := env.Client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	// Two conversations arrive (with room for the multipart reader's look-ahead), then
	// nothing more.
	if _, err := io.WriteString(pw, "["+good+","+good+","+strings.Repeat(" ", 512)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, env, [2]int{2, 2})

	if r := upload(env, token, strings.NewReader(chatGPT)); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("a second import meanwhile: %d %s", r.StatusCode, r.Body)
	}
	// The client gives up: its request is cancelled and its body breaks off.
	cancel()
	pw.CloseWithError(errors.New("the client has gone"))
	<-done
	waitFor(t, env, [2]int{})
	// The user can import again.
	if res := imported(t, env, token, "["+good+"]"); res.Conversations != 1 {
		t.Errorf("import after: %+v", res)
	}
}

// waitFor waits until the database holds these numbers of conversations and messages.
func waitFor(t *testing.T, env *apitest.Env, want [2]int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := counts(t, env)
		if c == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database holds %v, want %v", c, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSlowImportIsBounded: a file that does not arrive within UPLOAD_TIMEOUT is a 413 (as the
// access log says: the client, still sending, may not read it), and what the import stored
// meanwhile is removed.
func TestSlowImportIsBounded(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.UploadTimeout = time.Second }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	// The client gives up after a minute at most, whatever the server does: the test cannot
	// hang on it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pr.Close() })
	go func() {
		defer pw.CloseWithError(errors.New("the client gives up"))
		if _, err := io.WriteString(pw, "["+good+","+strings.Repeat(" ", 512)); err != nil {
			return
		}
		// Then nothing for longer than UPLOAD_TIMEOUT.
		select {
		case <-time.After(4 * time.Second):
		case <-ctx.Done():
		}
	}()
	body, ct := apitest.Multipart(`form-data; name="file"; filename="c.json"`, pr)
	req := env.Request(http.MethodPost, "/api/v1/imports", body).WithContext(ctx)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := env.Client.Do(req); err == nil {
		resp.Body.Close()
	}
	waitFor(t, env, [2]int{})
	if logs := env.Logs.String(); !strings.Contains(logs, `"path":"/api/v1/imports","status":413`) {
		t.Errorf("no 413 for the import in the log:\n%s", logs)
	}
}
