package shares_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
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

// Text a share must carry byte for byte: emoji with modifiers and joiners, right-to-left
// scripts with bidi controls, combining marks, CJK, line and paragraph separators, a BOM,
// characters outside the BMP, and JSON and HTML metacharacters.
var hostile = []string{
	"👩🏽‍💻 shares 🇫🇷 and 👨‍👩‍👧‍👦",
	"مرحبا بالعالم \u202eabc\u202c שלום",
	"e\u0301\u0301\u0301 Z\u0351\u0356a\u0334l\u0336g\u0337o",
	"日本語のテキスト、中文文本、한국어",
	"line\u2028separator\u2029paragraph\r\n\ttab",
	"\ufeffBOM \U0001D54F\U0001F600 \uFFFD",
	`</script><script>alert("x")</script> & "quotes" \ backslash {"json": true}`,
}

type fixture struct {
	env   *apitest.Env
	token string // the owner's access token
	conv  uuid.UUID
}

func newFixture(t *testing.T, env *apitest.Env, email, title string) fixture {
	t.Helper()
	s := env.Register(email, "correct horse battery staple")
	body := map[string]any{}
	if title != "" {
		body["title"] = title
	}
	r := env.As(s.AccessToken, http.MethodPost, "/api/v1/conversations", body)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create conversation: %d %s", r.StatusCode, r.Body)
	}
	var c api.Conversation
	r.JSON(t, &c)
	return fixture{env: env, token: s.AccessToken, conv: c.Id}
}

// message inserts a message under parent (uuid.Nil: a root) at the given time.
func (f fixture) message(t *testing.T, parent uuid.UUID, role, status, content string, at time.Time) uuid.UUID {
	t.Helper()
	id := database.NewID()
	var p *uuid.UUID
	if parent != uuid.Nil {
		p = &parent
	}
	_, err := f.env.Pool.Exec(context.Background(), `INSERT INTO messages (id, conversation_id, parent_id, role, status, content, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, f.conv, p, role, status, content, at)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f fixture) setCurrent(t *testing.T, id *uuid.UUID) {
	t.Helper()
	if _, err := f.env.Pool.Exec(context.Background(), `UPDATE conversations SET current_message_id = $1 WHERE id = $2`, id, f.conv); err != nil {
		t.Fatal(err)
	}
}

func (f fixture) share(t *testing.T, body map[string]any) api.ShareCreated {
	t.Helper()
	r := f.env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.String()+"/shares", body)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create share: %d %s", r.StatusCode, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create share: Cache-Control %q, want no-store", cc)
	}
	var s api.ShareCreated
	r.JSON(t, &s)
	return s
}

func read(env *apitest.Env, token string) *apitest.Response {
	return env.Call(http.MethodGet, "/api/v1/public/shares/"+token, nil)
}

// notFound checks a 404 and returns its body without the request id, to compare two 404s.
func notFound(t *testing.T, r *apitest.Response, what string) string {
	t.Helper()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("%s: %d %s, want 404", what, r.StatusCode, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	e := r.Envelope(t)
	if e.Code != api.ErrorBodyCodeNotFound {
		t.Errorf("%s: code %q", what, e.Code)
	}
	return strings.Replace(string(r.Body), e.RequestId, "", 1)
}

// The journey: a snapshot of the current branch only, read by anyone with the link and no
// account, holding no ids or emails, unchanged by later edits, cacheable, and gone at once
// when revoked, with the very answer a guessed token gets.
func TestShareJourney(t *testing.T) {
	t.Parallel()
	// More public reads than the default limit allows (TestPublicReadIsRateLimited).
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.RateLimitEnabled = false }))
	f := newFixture(t, env, "alice@example.com", hostile[0])
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

	// u1 ─┬─ a1 ── u3 (another branch)
	//     └─ a1b ── u2 ── a2 (current) ── a3 (failed, not the tip)
	u1 := f.message(t, uuid.Nil, "user", "complete", hostile[1], at(0))
	a1 := f.message(t, u1, "assistant", "complete", "first answer", at(1))
	f.message(t, a1, "user", "complete", "on the other branch", at(2))
	a1b := f.message(t, u1, "assistant", "complete", hostile[2], at(3))
	u2 := f.message(t, a1b, "user", "complete", hostile[3], at(4))
	a2 := f.message(t, u2, "assistant", "cancelled", hostile[4]+hostile[5]+hostile[6], at(5))
	f.message(t, a2, "assistant", "failed", "never shown", at(6))
	f.setCurrent(t, &a2)

	s := f.share(t, map[string]any{})
	if !strings.HasPrefix(s.UrlToken, "sh_") || len(s.UrlToken) < 3+22 {
		t.Errorf("url_token %q: want sh_ and at least 128 bits", s.UrlToken)
	}
	if s.ConversationId != f.conv || s.MessageCount != 4 || s.ExpiresAt != nil {
		t.Errorf("created %+v, want conversation %s, 4 messages, no expiry", s, f.conv)
	}
	var stored []byte
	if err := env.Pool.QueryRow(context.Background(), `SELECT token_hash FROM shares WHERE id = $1`, s.Id).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), s.UrlToken) || len(stored) != 32 {
		t.Errorf("the token is stored as %q, want its 32-byte hash only", stored)
	}

	// Later changes do not reach the snapshot.
	f.message(t, a2, "user", "complete", "written after sharing", at(7))
	if r := env.As(f.token, http.MethodPatch, "/api/v1/conversations/"+f.conv.String(), map[string]any{"title": "renamed"}); r.StatusCode != http.StatusOK {
		t.Fatalf("rename: %d %s", r.StatusCode, r.Body)
	}
	f.setCurrent(t, &a1)

	r := read(env, s.UrlToken)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("public read: %d %s", r.StatusCode, r.Body)
	}
	var got api.PublicShare
	r.JSON(t, &got)
	want := api.PublicShare{Title: hostile[0], CreatedAt: got.CreatedAt, Messages: []api.PublicMessage{
		{Role: "user", Content: hostile[1], CreatedAt: at(0)},
		{Role: "assistant", Content: hostile[2], CreatedAt: at(3)},
		{Role: "user", Content: hostile[3], CreatedAt: at(4)},
		{Role: "assistant", Content: hostile[4] + hostile[5] + hostile[6], CreatedAt: at(5)},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("snapshot (-want +got):\n%s", d)
	}
	if !s.CreatedAt.Equal(got.CreatedAt) {
		t.Errorf("created_at %v, want the share's %v", got.CreatedAt, s.CreatedAt)
	}

	// Nothing but titles and messages: no ids of anything, no email.
	var raw map[string]json.RawMessage
	r.JSON(t, &raw)
	if keys := slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(keys, []string{"created_at", "messages", "title"}) {
		t.Errorf("public share fields %v", keys)
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(raw["messages"], &msgs); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if len(m) != 3 || m["role"] == nil || m["content"] == nil || m["created_at"] == nil {
			t.Errorf("public message fields %v", m)
		}
	}
	var ids []uuid.UUID
	rows, err := env.Pool.Query(context.Background(), `SELECT id FROM messages UNION ALL SELECT id FROM users UNION ALL SELECT id FROM conversations UNION ALL SELECT id FROM shares`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for _, leak := range append([]string{"alice@example.com", "alice"}, func() []string {
		var s []string
		for _, id := range ids {
			s = append(s, id.String(), strings.ReplaceAll(id.String(), "-", ""))
		}
		return s
	}()...) {
		if strings.Contains(string(r.Body), leak) || strings.Contains(r.Header.Get("ETag"), leak) {
			t.Errorf("the public read shows %q:\n%s", leak, r.Body)
		}
	}

	// Cacheable by anyone for a minute; revalidated with the ETag.
	tag := r.Header.Get("ETag")
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control %q, want public, max-age=60", cc)
	}
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		t.Errorf("ETag %q is not a quoted tag", tag)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		req := env.Request(http.MethodGet, "/api/v1/public/shares/"+s.UrlToken, nil)
		req.Header.Set("If-None-Match", inm)
		r := env.Do(req)
		if r.StatusCode != http.StatusNotModified || len(r.Body) != 0 {
			t.Errorf("If-None-Match %s: %d %q, want an empty 304", inm, r.StatusCode, r.Body)
		}
		if r.Header.Get("ETag") != tag || r.Header.Get("Cache-Control") != "public, max-age=60" {
			t.Errorf("If-None-Match %s: 304 with ETag %q and Cache-Control %q", inm, r.Header.Get("ETag"), r.Header.Get("Cache-Control"))
		}
	}
	req := env.Request(http.MethodGet, "/api/v1/public/shares/"+s.UrlToken, nil)
	req.Header.Set("If-None-Match", `"stale"`)
	if r := env.Do(req); r.StatusCode != http.StatusOK || r.Header.Get("ETag") != tag {
		t.Errorf("a stale ETag: %d with ETag %q, want 200 with %q", r.StatusCode, r.Header.Get("ETag"), tag)
	}
	// The read needs no account, and a credential changes nothing.
	if r := env.As(f.token, http.MethodGet, "/api/v1/public/shares/"+s.UrlToken, nil); r.StatusCode != http.StatusOK || string(r.Body) != string(read(env, s.UrlToken).Body) {
		t.Errorf("with a token: %d %s", r.StatusCode, r.Body)
	}

	// Revoked: 404 at once, exactly as a token never made.
	if r := env.As(f.token, http.MethodDelete, "/api/v1/shares/"+s.Id.String(), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	} else if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("revoke: Cache-Control %q", cc)
	}
	revoked := notFound(t, read(env, s.UrlToken), "revoked")
	guessed := notFound(t, read(env, "sh_"+strings.Repeat("A", 43)), "guessed")
	if revoked != guessed {
		t.Errorf("a revoked token answers %s\na guessed one %s", revoked, guessed)
	}
	notFound(t, read(env, "x"), "short guess")
	if r := env.As(f.token, http.MethodDelete, "/api/v1/shares/"+s.Id.String(), nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke twice: %d %s", r.StatusCode, r.Body)
	}
}

// Without a current message the snapshot is the conversation's messages in order; replies
// still running, failed or empty are left out; an empty conversation shares an empty list.
func TestShareWithoutCurrentMessage(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newFixture(t, env, "alice@example.com", "")
	empty := f.share(t, map[string]any{})
	if empty.MessageCount != 0 {
		t.Errorf("empty conversation: %d messages", empty.MessageCount)
	}
	var got api.PublicShare
	r := read(env, empty.UrlToken)
	r.JSON(t, &got)
	if got.Messages == nil || len(got.Messages) != 0 || !strings.Contains(string(r.Body), `"messages":[]`) {
		t.Errorf("empty share: %s", r.Body)
	}

	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	u1 := f.message(t, uuid.Nil, "user", "complete", "one", t0)
	a1 := f.message(t, u1, "assistant", "complete", "two", t0.Add(time.Second))
	u2 := f.message(t, a1, "user", "complete", "three", t0.Add(2*time.Second))
	f.message(t, u2, "assistant", "streaming", "half a rep", t0.Add(3*time.Second))
	f.message(t, u2, "assistant", "failed", "half an answer", t0.Add(4*time.Second))
	f.message(t, u2, "assistant", "cancelled", "", t0.Add(5*time.Second))
	f.setCurrent(t, nil)
	s := f.share(t, map[string]any{})
	r = read(env, s.UrlToken)
	got = api.PublicShare{}
	r.JSON(t, &got)
	var contents []string
	for _, m := range got.Messages {
		contents = append(contents, m.Content)
	}
	if d := cmp.Diff([]string{"one", "two", "three"}, contents); d != "" || s.MessageCount != 3 {
		t.Errorf("message_count %d; messages (-want +got):\n%s", s.MessageCount, d)
	}
}

// Someone else's conversation or share is 404, and lists show only one's own.
func TestSharesAreTheOwners(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	alice := newFixture(t, env, "alice@example.com", "alice's")
	bob := newFixture(t, env, "bob@example.com", "bob's")
	s := alice.share(t, map[string]any{})

	if r := env.As(bob.token, http.MethodPost, "/api/v1/conversations/"+alice.conv.String()+"/shares", map[string]any{}); r.StatusCode != http.StatusNotFound {
		t.Errorf("share someone else's conversation: %d %s", r.StatusCode, r.Body)
	}
	if r := env.As(bob.token, http.MethodPost, "/api/v1/conversations/"+database.NewID().String()+"/shares", map[string]any{}); r.StatusCode != http.StatusNotFound {
		t.Errorf("share an unknown conversation: %d %s", r.StatusCode, r.Body)
	}
	if r := env.As(bob.token, http.MethodDelete, "/api/v1/shares/"+s.Id.String(), nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke someone else's share: %d %s", r.StatusCode, r.Body)
	}
	if r := read(env, s.UrlToken); r.StatusCode != http.StatusOK {
		t.Errorf("after bob's attempts: %d %s", r.StatusCode, r.Body)
	}
	var list api.ShareList
	env.As(bob.token, http.MethodGet, "/api/v1/shares", nil).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("bob lists %v", list.Items)
	}
	// Without an account nothing but the public read.
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/conversations/" + alice.conv.String() + "/shares"},
		{http.MethodGet, "/api/v1/shares"},
		{http.MethodDelete, "/api/v1/shares/" + s.Id.String()},
	} {
		if r := env.Call(c.method, c.path, map[string]any{}); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without an account: %d", c.method, c.path, r.StatusCode)
		}
	}
}

// An expired share is 404 and no longer listed; expires_in is bounded as the spec says.
func TestSharesExpire(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newFixture(t, env, "alice@example.com", "")
	before := time.Now()
	s := f.share(t, map[string]any{"expires_in": 3600})
	if s.ExpiresAt == nil || s.ExpiresAt.Before(before.Add(3599*time.Second)) || s.ExpiresAt.After(time.Now().Add(3601*time.Second)) {
		t.Errorf("expires_at %v, want an hour from now", s.ExpiresAt)
	}
	if r := read(env, s.UrlToken); r.StatusCode != http.StatusOK {
		t.Fatalf("before expiry: %d", r.StatusCode)
	}
	if _, err := env.Pool.Exec(context.Background(), `UPDATE shares SET expires_at = now() - interval '1 second' WHERE id = $1`, s.Id); err != nil {
		t.Fatal(err)
	}
	notFound(t, read(env, s.UrlToken), "expired")
	var list api.ShareList
	env.As(f.token, http.MethodGet, "/api/v1/shares", nil).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("expired share listed: %v", list.Items)
	}
	for _, n := range []int{0, 59, 31536001, -1} {
		r := env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.String()+"/shares", map[string]any{"expires_in": n})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("expires_in %d: %d %s", n, r.StatusCode, r.Body)
		}
	}
	for _, n := range []int{60, 31536000} {
		f.share(t, map[string]any{"expires_in": n})
	}
}

// Deleting the conversation revokes its shares.
func TestDeletingTheConversationRevokesItsShares(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newFixture(t, env, "alice@example.com", "")
	f.message(t, uuid.Nil, "user", "complete", "hello", time.Now())
	s := f.share(t, map[string]any{})
	if r := env.As(f.token, http.MethodDelete, "/api/v1/conversations/"+f.conv.String(), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete conversation: %d %s", r.StatusCode, r.Body)
	}
	notFound(t, read(env, s.UrlToken), "conversation deleted")
	var list api.ShareList
	env.As(f.token, http.MethodGet, "/api/v1/shares", nil).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("listed after the conversation was deleted: %v", list.Items)
	}
}

// The list pages newest first, each share once.
func TestListSharesPages(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newFixture(t, env, "alice@example.com", "")
	var want []uuid.UUID
	for range 5 {
		want = append([]uuid.UUID{f.share(t, map[string]any{}).Id}, want...)
	}
	var got []uuid.UUID
	path := "/api/v1/shares?limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		r := env.As(f.token, http.MethodGet, path, nil)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("list: %d %s", r.StatusCode, r.Body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("list: Cache-Control %q", cc)
		}
		var page api.ShareList
		r.JSON(t, &page)
		for _, s := range page.Items {
			got = append(got, s.Id)
			if s.ConversationId != f.conv || s.MessageCount != 0 {
				t.Errorf("listed %+v", s)
			}
		}
		if page.NextCursor == nil {
			break
		}
		path = "/api/v1/shares?limit=2&cursor=" + *page.NextCursor
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("shares (-want +got):\n%s", d)
	}
	if r := env.As(f.token, http.MethodGet, "/api/v1/shares?cursor=nonsense", nil); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad cursor: %d", r.StatusCode)
	}
}

// The public read is limited per client network, whatever the token: guessing tokens from
// one network stops after RATE_LIMIT_AUTH_REQUESTS, while other networks still read.
func TestPublicReadIsRateLimited(t *testing.T) {
	t.Parallel()
	const limit = 4
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.RateLimitEnabled = true
		c.RateLimitBackend = "memory"
		c.RateLimitAuthRequests = limit
		c.RateLimitAuthWindow = time.Hour
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}))
	f := newFixture(t, env, "alice@example.com", "")
	s := f.share(t, map[string]any{})
	from := func(network, token string) *apitest.Response {
		req := env.Request(http.MethodGet, "/api/v1/public/shares/"+token, nil)
		req.Header.Set("X-Forwarded-For", network)
		return env.Do(req)
	}
	for i := range limit {
		token := s.UrlToken
		if i%2 == 1 {
			token = fmt.Sprintf("sh_guess%d", i)
		}
		if r := from("203.0.113.7", token); r.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d limited", i+1)
		}
	}
	r := from("203.0.113.7", s.UrlToken)
	if r.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeRateLimited || r.Header.Get("Retry-After") == "" {
		t.Errorf("request %d: %d %s, want 429 with Retry-After", limit+1, r.StatusCode, r.Body)
	}
	if r := from("203.0.113.7", "sh_another"); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another token from the same network: %d", r.StatusCode)
	}
	// The limiter's line names the route, never the token.
	limited := 0
	for _, l := range env.Logs.Lines(t) {
		if l["msg"] == "rate limited" {
			limited++
			if l["route"] != "/api/v1/public/shares/{token}" || strings.Contains(fmt.Sprint(l), "sh_") {
				t.Errorf("rate limited line %v", l)
			}
		}
	}
	if limited != 2 {
		t.Errorf("%d rate limited lines, want 2", limited)
	}
	// No line of the log, the access lines included, holds a token.
	if logs := env.Logs.String(); strings.Contains(logs, s.UrlToken) || strings.Contains(logs, "sh_another") {
		t.Error("a share token is in the logs")
	}
	if r := from("198.51.100.9", s.UrlToken); r.StatusCode != http.StatusOK {
		t.Errorf("another network: %d %s", r.StatusCode, r.Body)
	}
	// The owner's operations are not limited by it.
	for range limit + 1 {
		if r := env.As(f.token, http.MethodGet, "/api/v1/shares", nil); r.StatusCode != http.StatusOK {
			t.Fatalf("list: %d", r.StatusCode)
		}
	}
}

// Through the branch operations: the snapshot is exactly the branch the owner sees listed
// at that moment, whichever branch that is.
func TestShareIsTheBranchShown(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	f := newFixture(t, env, "alice@example.com", "branches")
	base := "/api/v1/conversations/" + f.conv.String()
	send := func(content string) api.Exchange {
		r := env.As(f.token, http.MethodPost, base+"/messages", map[string]any{"content": content})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("send: %d %s", r.StatusCode, r.Body)
		}
		var x api.Exchange
		r.JSON(t, &x)
		return x
	}
	send("first 👋")
	second := send("second مرحبا")
	if r := env.As(f.token, http.MethodPost, base+"/messages/"+second.AssistantMessage.Id.String()+"/regenerate", nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("regenerate: %d %s", r.StatusCode, r.Body)
	}
	shown := func() []api.PublicMessage {
		r := env.As(f.token, http.MethodGet, base+"/messages?limit=100", nil)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("list: %d %s", r.StatusCode, r.Body)
		}
		var l api.MessageList
		r.JSON(t, &l)
		var out []api.PublicMessage
		for _, m := range l.Items {
			out = append(out, api.PublicMessage{Role: api.PublicShareMessagesRole(m.Role), Content: m.Content, CreatedAt: m.CreatedAt})
		}
		return out
	}
	shared := func() []api.PublicMessage {
		s := f.share(t, map[string]any{})
		var p api.PublicShare
		read(env, s.UrlToken).JSON(t, &p)
		if s.MessageCount != len(p.Messages) {
			t.Errorf("message_count %d, %d messages", s.MessageCount, len(p.Messages))
		}
		return p.Messages
	}
	regenerated := shown()
	if d := cmp.Diff(regenerated, shared()); d != "" || len(regenerated) != 4 {
		t.Errorf("after regenerating: %d shown; shared (-shown +shared):\n%s", len(regenerated), d)
	}
	if r := env.As(f.token, http.MethodPatch, base, map[string]any{"current_message_id": second.AssistantMessage.Id}); r.StatusCode != http.StatusOK {
		t.Fatalf("switch branch: %d %s", r.StatusCode, r.Body)
	}
	first := shown()
	if d := cmp.Diff(first, shared()); d != "" || len(first) != 4 {
		t.Errorf("after switching back: %d shown; shared (-shown +shared):\n%s", len(first), d)
	}
	if first[3].CreatedAt.Equal(regenerated[3].CreatedAt) {
		t.Error("the two branches end in the same reply")
	}
}

// A snapshot is bounded as an export is: a branch over EXPORT_MAX_MESSAGES or
// EXPORT_MAX_BYTES is a 413 and stores nothing; only the current branch counts.
func TestShareOfATooLargeBranch(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.ExportMaxMessages, c.ExportMaxBytes = 3, 1000 }))
	f := newFixture(t, env, "ada@example.com", "big")
	now := time.Now()
	u := f.message(t, uuid.Nil, "user", "complete", "q 😀", now)
	a := f.message(t, u, "assistant", "complete", strings.Repeat("漢", 400), now) // 1,200 bytes
	small := f.message(t, u, "assistant", "complete", "short", now)
	f.setCurrent(t, &a)
	r := env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.String()+"/shares", map[string]any{})
	if r.StatusCode != http.StatusRequestEntityTooLarge || r.Envelope(t).Code != api.ErrorBodyCodePayloadTooLarge {
		t.Fatalf("share of a 1,200-byte branch with EXPORT_MAX_BYTES=1000: %d %s", r.StatusCode, r.Body)
	}
	var n int
	if err := env.Pool.QueryRow(t.Context(), "SELECT count(*) FROM shares").Scan(&n); err != nil || n != 0 {
		t.Fatalf("shares stored: %d %v", n, err)
	}
	// The other branch fits.
	f.setCurrent(t, &small)
	if s := f.share(t, map[string]any{}); s.MessageCount != 2 {
		t.Errorf("share of the small branch holds %d messages", s.MessageCount)
	}
	// Too many messages.
	x := f.message(t, small, "user", "complete", "more", now)
	y := f.message(t, x, "assistant", "complete", "more", now)
	f.setCurrent(t, &y)
	if r := env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.String()+"/shares", map[string]any{}); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("share of a 4-message branch with EXPORT_MAX_MESSAGES=3: %d %s", r.StatusCode, r.Body)
	}
}
