package search_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/httpapi"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/pgtest"
)

// user is a signed-in account of the test's API, with the echo provider answering.
type user struct {
	t     *testing.T
	env   *apitest.Env
	token string
}

func newUser(t *testing.T, env *apitest.Env, email string) *user {
	t.Helper()
	return &user{t: t, env: env, token: env.Register(email, "correct horse battery").AccessToken}
}

// conversation makes a conversation with that title.
func (u *user) conversation(title string) uuid.UUID {
	u.t.Helper()
	r := u.env.As(u.token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": title})
	if r.StatusCode != http.StatusCreated {
		u.t.Fatalf("create conversation: %d %s", r.StatusCode, r.Body)
	}
	var c api.Conversation
	r.JSON(u.t, &c)
	return c.Id
}

// send sends a message and waits for the echo reply ("… You said: <content>"); it returns
// the user message's id.
func (u *user) send(conv uuid.UUID, content string) uuid.UUID {
	u.t.Helper()
	r := u.env.As(u.token, http.MethodPost, "/api/v1/conversations/"+conv.String()+"/messages", map[string]any{"content": content})
	if r.StatusCode != http.StatusCreated {
		u.t.Fatalf("send %q: %d %s", content, r.StatusCode, r.Body)
	}
	var x api.Exchange
	r.JSON(u.t, &x)
	return x.UserMessage.Id
}

// search is one page of GET /search; the status must be 200.
func (u *user) search(q, extra string) api.SearchResults {
	u.t.Helper()
	r := u.env.As(u.token, http.MethodGet, "/api/v1/search?q="+url.QueryEscape(q)+extra, nil)
	if r.StatusCode != http.StatusOK {
		u.t.Fatalf("search %q: %d %s", q, r.StatusCode, r.Body)
	}
	var res api.SearchResults
	r.JSON(u.t, &res)
	return res
}

// userMessages are the ids of the user's own messages among the hits (the echo replies
// repeat them), in order.
func userMessages(res api.SearchResults) []uuid.UUID {
	var ids []uuid.UUID
	for _, h := range res.Items {
		if h.MessageId != nil && h.Role != nil && *h.Role == api.SearchResultsItemsRoleUser {
			ids = append(ids, *h.MessageId)
		}
	}
	return ids
}

func TestSearch(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newUser(t, env, "ada@example.com")
	conv := ada.conversation("Holiday planning")
	twice := ada.send(conv, "zebra crossing with a zebra")
	once := ada.send(conv, "one zebra only")
	phrase := ada.send(conv, "red apple pie")
	ada.send(conv, "apple is red")
	kiwi := ada.send(conv, "a kiwi here")
	mango := ada.send(conv, "a mango there")
	split := ada.send(conv, "banana split")
	bread := ada.send(conv, "banana bread")
	tokyo := ada.send(conv, "昨日は東京タワーに行きました")

	t.Run("ranking", func(t *testing.T) {
		res := ada.search("zebra", "")
		if diff := cmp.Diff([]uuid.UUID{twice, once}, userMessages(res)); diff != "" {
			t.Errorf("the message with the word twice first (-want +got):\n%s", diff)
		}
		if len(res.Items) != 4 {
			t.Errorf("%d hits, want 4 (two messages and their echoes)", len(res.Items))
		}
		for _, h := range res.Items {
			if !strings.Contains(h.Snippet, "[[zebra]]") {
				t.Errorf("snippet %q does not mark [[zebra]]", h.Snippet)
			}
			if h.ConversationId != conv || h.ConversationTitle != "Holiday planning" {
				t.Errorf("hit in %s %q, want %s", h.ConversationId, h.ConversationTitle, conv)
			}
		}
		if res.NextCursor != nil {
			t.Errorf("next_cursor %q on the only page", *res.NextCursor)
		}
	})
	t.Run("title", func(t *testing.T) {
		res := ada.search("HOLIDAY", "")
		want := []api.SearchHit{{ConversationId: conv, ConversationTitle: "Holiday planning", Snippet: "[[Holiday]] planning"}}
		if diff := cmp.Diff(want, res.Items, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".CreatedAt" }, cmp.Ignore())); diff != "" {
			t.Errorf("title match (-want +got):\n%s", diff)
		}
	})
	for _, c := range []struct {
		name, q string
		want    []uuid.UUID
	}{
		{"phrase", `"red apple"`, []uuid.UUID{phrase}},
		{"or", "kiwi OR mango", []uuid.UUID{mango, kiwi}},
		{"exclusion", "banana -split", []uuid.UUID{bread}},
		{"cjk substring", "東京", []uuid.UUID{tokyo}},
		{"cjk no match", "大阪", nil},
		{"nothing", "xylophone", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := userMessages(ada.search(c.q, ""))
			slices.SortFunc(got, func(a, b uuid.UUID) int { return strings.Compare(b.String(), a.String()) })
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("search %q (-want +got):\n%s", c.q, diff)
			}
		})
	}
	_ = split
	t.Run("cjk snippet", func(t *testing.T) {
		res := ada.search("東京", "")
		if len(res.Items) == 0 || !strings.Contains(res.Items[0].Snippet, "[[東京]]タワー") {
			t.Errorf("hits %+v: want a snippet with [[東京]]タワー", res.Items)
		}
	})

	t.Run("another user's words never found", func(t *testing.T) {
		bob := newUser(t, env, "bob@example.com")
		bc := bob.conversation("Secretive title")
		bob.send(bc, "my confidential zebra 東京")
		if res := bob.search("confidential", ""); len(res.Items) != 2 {
			t.Errorf("bob finds %d of his own hits, want 2", len(res.Items))
		}
		for _, q := range []string{"confidential", "secretive", "Secretive title", "confidential OR secretive"} {
			if res := ada.search(q, ""); len(res.Items) != 0 {
				t.Errorf("ada searching %q finds bob's %+v", q, res.Items)
			}
		}
		for _, h := range append(ada.search("zebra", "").Items, ada.search("東京", "").Items...) {
			if h.ConversationId == bc {
				t.Errorf("ada finds bob's %+v", h)
			}
		}
	})
}

// TestSearchPages pages through 60 hits with ties in rank, 7 at a time: every hit once, in
// rank order, none missing.
func TestSearchPages(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newUser(t, env, "ada@example.com")
	conv := ada.conversation("Pages")
	want := map[uuid.UUID]bool{}
	for i := range 30 {
		want[ada.send(conv, strings.Repeat("walrus ", 1+i%3)+"end")] = true
	}
	var all []api.SearchHit
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("more than 20 pages")
		}
		res := ada.search("walrus", "&limit=7"+cursor)
		if len(res.Items) > 7 {
			t.Fatalf("%d items on a page of 7", len(res.Items))
		}
		all = append(all, res.Items...)
		if res.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + url.QueryEscape(*res.NextCursor)
	}
	if len(all) != 60 {
		t.Errorf("%d hits over the pages, want 60 (30 messages and their echoes)", len(all))
	}
	seen := map[uuid.UUID]bool{}
	for _, h := range all {
		if seen[*h.MessageId] {
			t.Errorf("message %s twice", *h.MessageId)
		}
		seen[*h.MessageId] = true
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("message %s never found", id)
		}
	}
	// Best first: the number of times the word occurs never rises down the pages.
	for i := 1; i < len(all); i++ {
		if strings.Count(all[i].Snippet, "[[walrus]]") > strings.Count(all[i-1].Snippet, "[[walrus]]") {
			t.Errorf("hit %d (%q) ranks below hit %d (%q)", i, all[i].Snippet, i-1, all[i-1].Snippet)
		}
	}
}

// TestSearchHostile: whatever the query, the answer is a page (200) or a 422 naming the
// parameter, never a 500.
func TestSearchHostile(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newUser(t, env, "ada@example.com")
	conv := ada.conversation(`Quotes " and \ backslashes`)
	ada.send(conv, `it's a "quoted" word with \ and % and _ and 😀 and שלום and :* and !`)
	for _, q := range []string{
		`"`, `""`, `"unterminated`, `OR`, `or or or`, `-`, `--x`, `-"a b"`, `:*`, `a:*`, `a:b`, `&`, `|`, `!`, `&|!`,
		`!!a`, `(`, `((a)`, `a <-> b`, `a <2> b`, `\`, `\\`, `'`, `''`, `a'b`, `%`, `_`, `%_\`, `東%_\`, `東京\`,
		"😀", "שלום", "\u202eevil", "\u200b", " ", "the", "a OR", "OR a", "- -", `"" OR ""`, "é\u0301",
		"\U0010FFFF", strings.Repeat("a ", 100), strings.Repeat("東", 200), strings.Repeat("😀", 200),
		strings.Repeat(`"`, 200), strings.Repeat("-", 200), strings.Repeat("!", 200), strings.Repeat("-!", 100), strings.Repeat("- ", 99) + "a",
		strings.Repeat("-&", 99) + "a", strings.Repeat("-(", 99) + "a", strings.Repeat("a OR ", 40), strings.Repeat(`"a b" `, 33),
	} {
		r := env.As(ada.token, http.MethodGet, "/api/v1/search?q="+url.QueryEscape(q), nil)
		if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("q=%q: %d %s", q, r.StatusCode, r.Body)
		}
	}
	for _, c := range []struct{ name, query, field string }{
		{"empty", "q=", "query.q"},
		{"too long", "q=" + strings.Repeat("a", 201), "query.q"},
		{"nul", "q=a%00b", "query.q"},
		{"bad cursor", "q=a&cursor=nope", "query.cursor"},
		{"cursor of another list", "q=a&cursor=" + url.QueryEscape(`eyJpIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0`), "query.cursor"},
	} {
		r := env.As(ada.token, http.MethodGet, "/api/v1/search?"+c.query, nil)
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s, want 422", c.name, r.StatusCode, r.Body)
			continue
		}
		e := r.Envelope(t)
		if e.Details == nil || len(*e.Details) == 0 || (*e.Details)[0].Field != c.field {
			t.Errorf("%s: %s, want a detail on %s", c.name, r.Body, c.field)
		}
	}
	// A cursor whose rank is beyond what PostgreSQL's real holds is a position like any other.
	for _, cur := range []string{`{"r":1e308,"i":"01926f3e-6d2a-7cc1-9a6e-2f1d2b3c4d5e"}`, `{"r":-1e-320,"i":"01926f3e-6d2a-7cc1-9a6e-2f1d2b3c4d5e"}`} {
		r := env.As(ada.token, http.MethodGet, "/api/v1/search?q=word&cursor="+b64(cur), nil)
		if r.StatusCode != http.StatusOK {
			t.Errorf("cursor %s: %d %s", cur, r.StatusCode, r.Body)
		}
	}
	if r := env.Call(http.MethodGet, "/api/v1/search?q=word", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", r.StatusCode)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestSearchLanguage: SEARCH_LANGUAGE=english finds a word by its stem; a configuration the
// database does not have stops the start, naming the setting.
func TestSearchLanguage(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.SearchLanguage = "english" }))
	ada := newUser(t, env, "ada@example.com")
	id := ada.send(ada.conversation("Sports"), "the runners were running")
	res := ada.search("runs", "")
	if diff := cmp.Diff([]uuid.UUID{id}, userMessages(res)); diff != "" {
		t.Errorf("english: runs finds running (-want +got):\n%s", diff)
	}
	if len(res.Items) > 0 && !strings.Contains(res.Items[0].Snippet, "[[running]]") {
		t.Errorf("snippet %q does not mark [[running]]", res.Items[0].Snippet)
	}

	pool, url := pgtest.New(t)
	cfg := apitest.Config()
	cfg.DatabaseURL, cfg.SearchLanguage = url, "klingon"
	cfg.UploadDir, cfg.ExportDir = t.TempDir(), t.TempDir()
	app, err := httpapi.New(httpapi.Deps{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), LogWriter: io.Discard, Pool: pool})
	if err == nil {
		_ = app.Close()
		t.Fatal("started with SEARCH_LANGUAGE=klingon")
	}
	if !strings.Contains(err.Error(), "SEARCH_LANGUAGE=klingon") {
		t.Errorf("error %q does not name SEARCH_LANGUAGE=klingon", err)
	}
}
