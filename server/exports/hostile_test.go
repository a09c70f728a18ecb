package exports_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/exports"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
)

// hostile is text that people and models write every day, and some that attackers do.
var hostile = []string{
	"Crème brûlée, naïve façade, Øresund, Łódź",
	"Путешествие по России",
	"Καλημέρα κόσμε",
	"你好世界，中文测试",
	"こんにちは、カタカナ、日本語",
	"안녕하세요 세계",
	"مرحبا بالعالم",
	"שלום עולם",
	"नमस्ते दुनिया",
	"Smile 😀 thumbs 👍🏽 family 👨‍👩‍👧‍👦 heart ❤️",
	"Flags 🇫🇷🇯🇵🇺🇦 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
	"Zalgo z̷̢a̶l̵g̴o and e\u0301 and n\u0303",
	"Math 𝕏𝔸𝕄 and old 𐌰𐌱 and 𠀀",
	"abc \u202Edlrow olleh\u202C def",
	"zero\u200Bwidth\u200Cjoin\u200Dhere\uFEFF",
	strings.Repeat("ω", 6000),
}

// The corpus goes in through every text field (title, system prompt, messages, and so the
// echo provider's replies) and out through every export: Markdown and JSON hold it byte for
// byte, the PDF's text holds every script its fonts cover, and the server keeps serving.
func TestUnicodeCorpusThroughEveryFieldAndExport(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	title := "😀 👨‍👩‍👧‍👦 🇯🇵 你好 안녕 Путь \u202Eabc 𝕏"
	system := strings.Join(hostile, "\n")
	r := env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": title, "system_prompt": system})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.Body)
	}
	var conv api.Conversation
	r.JSON(t, &conv)
	base := "/api/v1/conversations/" + conv.Id.String()
	for _, s := range append(hostile, "| cell | "+strings.Join(hostile[:10], " ")+" |\n|---|---|\n| "+hostile[9]+" | "+hostile[3]+" |") {
		if r := env.As(token, http.MethodPost, base+"/messages", map[string]any{"content": s}); r.StatusCode != http.StatusCreated {
			t.Fatalf("send %.40q: %d %s", s, r.StatusCode, r.Body)
		}
	}

	export := func(format string) []byte {
		r := env.As(token, http.MethodPost, base+"/exports", map[string]any{"format": format})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("export %s: %d %s", format, r.StatusCode, r.Body)
		}
		var e api.Export
		r.JSON(t, &e)
		return env.As(token, http.MethodGet, "/api/v1/exports/"+e.Id.String()+"/content", nil).Body
	}

	md := string(export("markdown"))
	for _, s := range append([]string{title, llm.EchoReply(hostile[9])}, hostile...) {
		if !strings.Contains(md, s) {
			t.Errorf("the Markdown export lacks %.60q", s)
		}
	}

	var doc exports.Document
	if err := json.Unmarshal(export("json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Conversation.Title != title || doc.Conversation.SystemPrompt == nil || *doc.Conversation.SystemPrompt != system {
		t.Errorf("the JSON export changed the title or system prompt")
	}
	for i, s := range hostile {
		if got := doc.Messages[2*i].Content; got != s {
			t.Errorf("JSON message %d = %.60q, want %.60q", 2*i, got, s)
		}
	}

	text := pdftotext(t, export("pdf"))
	for _, w := range []string{"Crème brûlée", "Путешествие", "Καλημέρα", "你好世界", "こんにちは", "カタカナ", "안녕하세요", "ωωωωωωωωωω",
		"Smile \uFFFD thumbs \uFFFD family \uFFFD", "Math \uFFFD\uFFFD\uFFFD"} {
		if !strings.Contains(text, w) {
			t.Errorf("the PDF's text lacks %q", w)
		}
	}
	if r := env.Call(http.MethodGet, "/api/v1/health", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("after the exports the server answers health with %d", r.StatusCode)
	}
}

// A 32,000-character table cell (quadratic wrapping took minutes) exports, its cell cut
// with a visible mark. The timeout only catches a return to quadratic time under the race
// detector on a busy machine: BenchmarkPDFTableCell32k measures it (tens of milliseconds).
func TestHugeTableCellExportsQuickly(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *config.Config) { c.ExportTimeout = 10 * time.Second })
	cell := strings.Repeat("Lorem ipsum dolor sit amet ", 32000/27+1)[:32000]
	f.seed(t, "| A | B |\n|---|---|\n| "+cell+" | short |", "| A | B |\n|---|---|\n| "+strings.Repeat("x", 32000)+" | y |")
	start := time.Now()
	_, pdf := f.export(t, "pdf")
	t.Logf("32,000-character cells: %s, %d bytes", time.Since(start), len(pdf))
	text := pdftotext(t, pdf)
	if strings.Count(text, "… [cut]") != 2 || !strings.Contains(text, "short") {
		t.Errorf("want both long cells cut with a mark and the short one whole:\n%.2000s", text)
	}
}

// Each user renders one export at a time: the second, while the first renders, is a 429
// with Retry-After; another user is not held up.
func TestOneExportAtATimePerUser(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t, strings.Repeat(strings.Repeat("word ", 2000)+"\n\n", 20))
	eve := f.env.Register("eve@example.com", "correct horse battery").AccessToken
	var ec api.Conversation
	f.env.As(eve, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "eve"}).JSON(t, &ec)

	var wg sync.WaitGroup
	statuses := make([]int, 4)
	retry := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.Id.String()+"/exports", map[string]any{"format": "pdf"})
			statuses[i], retry[i] = r.StatusCode, r.Header.Get("Retry-After")
		}()
	}
	wg.Wait()
	r := f.env.As(eve, http.MethodPost, "/api/v1/conversations/"+ec.Id.String()+"/exports", map[string]any{"format": "pdf"})
	if r.StatusCode != http.StatusCreated {
		t.Errorf("another user's export: %d", r.StatusCode)
	}
	created := 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			if retry[i] == "" {
				t.Errorf("429 without Retry-After")
			}
		default:
			t.Errorf("status %d", s)
		}
	}
	sort.Ints(statuses)
	if created < 1 || statuses[len(statuses)-1] != http.StatusTooManyRequests {
		t.Errorf("four concurrent exports by one user: %v, want at least one 201 and at least one 429", statuses)
	}
	if n := f.env.App.ExportsRunning(); n != 0 {
		t.Errorf("%d renders still running after every answer", n)
	}
}

// An export past EXPORT_TIMEOUT answers 503, and its rendering stops: nothing keeps
// running (and burning CPU) after the answer.
func TestExportPastTheTimeoutStopsRendering(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *config.Config) { c.ExportTimeout = 300 * time.Millisecond })
	big := strings.Repeat("Lorem ipsum dolor sit amet, 你好世界. ", 4000)
	msgs := make([]string, 40)
	for i := range msgs {
		msgs[i] = big
	}
	f.seed(t, msgs...)
	r := f.env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.Id.String()+"/exports", map[string]any{"format": "pdf"})
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.Envelope(t).Message, "too long") {
		t.Fatalf("got %d %s", r.StatusCode, r.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.env.App.ExportsRunning() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the render kept running 10 s after the request gave up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var l api.ExportList
	f.env.As(f.token, http.MethodGet, "/api/v1/exports", nil).JSON(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("a timed-out export was stored: %+v", l.Items)
	}
}
