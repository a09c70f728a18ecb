package exports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/database"
	"assistant/server/exports"
	"assistant/server/testutil/apitest"
)

type fixture struct {
	env   *apitest.Env
	token string
	conv  api.Conversation
}

func setup(t *testing.T, cfg ...func(*config.Config)) *fixture {
	t.Helper()
	env := apitest.New(t, apitest.WithConfig(cfg...))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	r := env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "Путешествие · café", "system_prompt": "Be helpful."})
	var c api.Conversation
	r.JSON(t, &c)
	return &fixture{env: env, token: token, conv: c}
}

// seed stores messages directly (a user/assistant pair per item), fast and deterministic.
func (f *fixture) seed(t *testing.T, contents ...string) {
	t.Helper()
	ctx := context.Background()
	var parent *uuid.UUID
	for i, c := range contents {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		id := database.NewID()
		if _, err := f.env.Pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, parent_id, role, content, status, model)
			VALUES ($1, $2, $3, $4::message_role, $5, 'complete', CASE WHEN $4::message_role = 'assistant' THEN 'echo' END)`,
			id, f.conv.Id, parent, role, c); err != nil {
			t.Fatal(err)
		}
		parent = &id
	}
	if _, err := f.env.Pool.Exec(ctx, `UPDATE conversations SET current_message_id = $1 WHERE id = $2`, parent, f.conv.Id); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) export(t *testing.T, format string) (api.Export, []byte) {
	t.Helper()
	r := f.env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.Id.String()+"/exports", map[string]any{"format": format})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("export %s: %d %s", format, r.StatusCode, r.Body)
	}
	var e api.Export
	r.JSON(t, &e)
	d := f.env.As(f.token, http.MethodGet, "/api/v1/exports/"+e.Id.String()+"/content", nil)
	if d.StatusCode != http.StatusOK || int64(len(d.Body)) != e.SizeBytes {
		t.Fatalf("download: %d, %d bytes of %d", d.StatusCode, len(d.Body), e.SizeBytes)
	}
	return e, d.Body
}

func pdftotext(t *testing.T, pdf []byte) string {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "x.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", in, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

const rich = "# Plan\n\nVisit **Lisbon** and _Sintra_, eat `pastéis`.\n\n" +
	"1. Belém\n2. Alfama\n\n- Ελληνικά: καλημέρα\n- Русский: доброе утро\n\n" +
	"```go\nfmt.Println(\"hi\")\n```\n\n| Day | Place |\n| --- | --- |\n| 1 | Lisbon |\n| 2 | Sintra |\n"

func TestPDFExportKeepsTextAndScripts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t, "Привет! Как дела? Crème brûlée, naïve façade.", rich)
	e, pdf := f.export(t, "pdf")
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || e.Format != api.ExportFormatPdf || !strings.HasSuffix(e.Filename, ".pdf") {
		t.Fatalf("export %+v starts %q", e, pdf[:8])
	}
	if out := os.Getenv("EXPORT_SAMPLE_PDF"); out != "" { // to look at it: pdftoppm -png
		_ = os.WriteFile(out, pdf, 0o600)
	}
	text := pdftotext(t, pdf)
	order := []string{"Путешествие · café", "Привет! Как дела?", "Crème brûlée, naïve façade.", "Plan", "Lisbon", "Sintra",
		"pastéis", "1.", "Belém", "2.", "Alfama", "καλημέρα", "доброе утро", `fmt.Println("hi")`, "Day", "Place", "page 1 of 1"}
	pos := 0
	for _, w := range order {
		i := strings.Index(text[pos:], w)
		if i < 0 {
			t.Fatalf("%q missing (or out of order) in the PDF text:\n%s", w, text)
		}
		pos += i + len(w)
	}
	if strings.Contains(text, "**") || strings.Contains(text, "```") || strings.Contains(text, "| --- |") {
		t.Errorf("Markdown syntax was printed instead of rendered:\n%s", text)
	}
}

func TestLongConversationHasManyNumberedPages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	msgs := make([]string, 200)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("Message number %d. %s", i, strings.Repeat("Lorem ipsum dolor sit amet. ", 8))
	}
	f.seed(t, msgs...)
	start := time.Now()
	_, pdf := f.export(t, "pdf")
	t.Logf("200-message PDF: %d bytes in %s", len(pdf), time.Since(start))
	text := pdftotext(t, pdf)
	m := regexp.MustCompile(`page 1 of (\d+)`).FindStringSubmatch(text)
	if m == nil || m[1] == "1" {
		t.Fatalf("no multi-page numbering in:\n%.500s", text)
	}
	if !strings.Contains(text, "page "+m[1]+" of "+m[1]) || !strings.Contains(text, "Message number 199.") {
		t.Errorf("last page or last message missing (%s pages)", m[1])
	}
	if strings.Index(text, "Message number 10.") > strings.Index(text, "Message number 11.") {
		t.Error("messages out of order")
	}
}

func TestMarkdownAndJSONExports(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t, "Question with `code`?", "Answer:\n\n- one\n- two")
	_, md := f.export(t, "markdown")
	s := string(md)
	for _, w := range []string{"# Путешествие · café", "**You**", "Question with `code`?", "**Assistant (echo)**", "- one\n- two", "> System prompt: Be helpful."} {
		if !strings.Contains(s, w) {
			t.Errorf("markdown lacks %q:\n%s", w, s)
		}
	}

	_, js := f.export(t, "json")
	var doc exports.Document
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	var list api.MessageList
	f.env.As(f.token, http.MethodGet, "/api/v1/conversations/"+f.conv.Id.String()+"/messages", nil).JSON(t, &list)
	var conv api.Conversation
	f.env.As(f.token, http.MethodGet, "/api/v1/conversations/"+f.conv.Id.String(), nil).JSON(t, &conv)
	a, _ := json.Marshal(struct {
		C api.Conversation
		M []api.Message
	}{conv, list.Items})
	b, _ := json.Marshal(struct {
		C api.Conversation
		M []api.Message
	}{doc.Conversation, doc.Messages})
	if doc.Format != exports.DocumentFormat || !bytes.Equal(a, b) {
		t.Errorf("the JSON export is not what the API shows:\n%s\n%s", a, b)
	}
}

func TestExportLifecycleAndOwnership(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t, "hi", "hello")
	e, _ := f.export(t, "markdown")
	eve := f.env.Register("eve@example.com", "correct horse battery").AccessToken
	base := "/api/v1/exports/" + e.Id.String()
	for _, c := range []struct{ method, path string }{{"GET", base}, {"GET", base + "/content"}, {"DELETE", base},
		{"POST", "/api/v1/conversations/" + f.conv.Id.String() + "/exports"}} {
		if r := f.env.As(eve, c.method, c.path, map[string]any{"format": "pdf"}); r.StatusCode != http.StatusNotFound {
			t.Errorf("eve %s %s: %d", c.method, c.path, r.StatusCode)
		}
	}
	var l api.ExportList
	f.env.As(f.token, http.MethodGet, "/api/v1/exports", nil).JSON(t, &l)
	if len(l.Items) != 1 || l.Items[0].Id != e.Id {
		t.Errorf("list: %+v", l)
	}
	if r := f.env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.Id.String()+"/exports", map[string]any{"format": "docx"}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("unknown format: %d", r.StatusCode)
	}
	// Deleting the conversation keeps the export.
	f.env.As(f.token, http.MethodDelete, "/api/v1/conversations/"+f.conv.Id.String(), nil)
	var kept api.Export
	r := f.env.As(f.token, http.MethodGet, base, nil)
	r.JSON(t, &kept)
	if r.StatusCode != http.StatusOK || kept.ConversationId != nil {
		t.Errorf("after the conversation went: %d %s", r.StatusCode, r.Body)
	}
	if r := f.env.As(f.token, http.MethodDelete, base, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	entries, _ := os.ReadDir(filepath.Join(f.env.Config.ExportDir, e.Id.String()))
	var left int
	_ = filepath.WalkDir(f.env.Config.ExportDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left++
		}
		return nil
	})
	if left != 0 || len(entries) != 0 {
		t.Errorf("%d files left in EXPORT_DIR", left)
	}
}

func TestTooLargeToExport(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *config.Config) { c.ExportMaxMessages = 3 })
	f.seed(t, "1", "2", "3", "4")
	r := f.env.As(f.token, http.MethodPost, "/api/v1/conversations/"+f.conv.Id.String()+"/exports", map[string]any{"format": "pdf"})
	if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(r.Envelope(t).Message, "too large") {
		t.Fatalf("got %d %s", r.StatusCode, r.Body)
	}
}
