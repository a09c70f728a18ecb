package chat_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/pdftest"
)

func (f *fixture) upload(name string, content []byte) api.File {
	f.t.Helper()
	r := f.env.Upload(f.token, name, content)
	if r.StatusCode != http.StatusCreated {
		f.t.Fatalf("upload %s: %d %s", name, r.StatusCode, r.Body)
	}
	var file api.File
	r.JSON(f.t, &file)
	return file
}

// The text of attached files reaches the model, delimited and named; the stored message
// records the files.
func TestAttachedFilesReachTheModel(t *testing.T) {
	t.Parallel()
	f := setup(t)
	notes := f.upload("notes.md", []byte("# Groceries\n- leite\n- pão"))
	csv := f.upload("prices.csv", []byte("item,eur\nleite,1.10\n"))
	r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{
		"content": "What do I need?", "file_ids": []string{notes.Id.String(), csv.Id.String()}})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
	var ex api.Exchange
	r.JSON(t, &ex)
	if len(ex.UserMessage.FileIds) != 2 || ex.UserMessage.FileIds[0] != notes.Id || ex.UserMessage.Content != "What do I need?" {
		t.Errorf("stored user message %+v", ex.UserMessage)
	}
	reqs := f.fake.Requests()
	got := reqs[len(reqs)-1].Messages
	last := got[len(got)-1].Content
	want := "<file name=\"notes.md\">\n# Groceries\n- leite\n- pão\n</file>\n\n<file name=\"prices.csv\">\nitem,eur\nleite,1.10\n\n</file>\n\nWhat do I need?"
	if last != want {
		t.Errorf("the model got %q, want %q", last, want)
	}
}

// A PDF's text is extracted: here a PDF export of this very conversation.
func TestAttachedPDFText(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "Remember the word tangerine"})
	r := f.call(http.MethodPost, f.convPath("/exports"), map[string]any{"format": "pdf"})
	var e api.Export
	r.JSON(t, &e)
	pdf := f.call(http.MethodGet, "/api/v1/exports/"+e.Id.String()+"/content", nil)
	file := f.upload("chat.pdf", pdf.Body)
	if file.ContentType != "application/pdf" {
		t.Fatalf("uploaded as %s", file.ContentType)
	}
	s := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "Which word?", "file_ids": []string{file.Id.String()}})
	if s.StatusCode != http.StatusCreated {
		t.Fatalf("send: %d %s", s.StatusCode, s.Body)
	}
	reqs := f.fake.Requests()
	got := reqs[len(reqs)-1].Messages
	last := got[len(got)-1].Content
	if !strings.HasPrefix(last, `<file name="chat.pdf">`) || !strings.Contains(last, "tangerine") {
		t.Errorf("the model got %q", last)
	}
}

func TestUnreadableOrForeignFilesAre422(t *testing.T) {
	t.Parallel()
	f := setup(t)
	img := f.upload("photo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"))
	bad := f.upload("broken.pdf", []byte("%PDF-1.4\nnot really a pdf"))
	drawing := f.upload("drawing.pdf", pdftest.Build(pdftest.Page{Content: []byte("0 0 m 100 100 l S\n")}))
	eve := f.env.Register("eve@example.com", "correct horse battery").AccessToken
	r := f.env.Upload(eve, "eve.txt", []byte("eve's"))
	var evesFile api.File
	r.JSON(t, &evesFile)
	for name, c := range map[string]struct{ id, message string }{
		"image":          {img.Id.String(), "photo.png cannot be read as text (image/png is not text)"},
		"broken pdf":     {bad.Id.String(), "broken.pdf cannot be read as text (malformed PDF)"},
		"pdf, no text":   {drawing.Id.String(), "drawing.pdf cannot be read as text (the PDF has no text)"},
		"someone else's": {evesFile.Id.String(), "no such file"},
	} {
		// Twice: the second answer comes from the stored outcome.
		for range 2 {
			r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "read it", "file_ids": []string{c.id}})
			e := r.Envelope(t)
			if r.StatusCode != http.StatusUnprocessableEntity || e.Details == nil || (*e.Details)[0].Field != "body.file_ids.0" || (*e.Details)[0].Message != c.message {
				t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
			}
		}
	}
	// Nothing was stored for the refused sends.
	var l api.MessageList
	f.call(http.MethodGet, f.convPath("/messages"), nil).JSON(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("%d messages stored", len(l.Items))
	}
	if r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "x", "file_ids": []string{img.Id.String(), img.Id.String()}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("duplicate file ids: %d", r.StatusCode)
	}
}

// extractions counts the times the file's text was read (one log line each).
func (f *fixture) extractions(fileID string) int {
	f.t.Helper()
	n := 0
	for _, l := range f.env.Logs.Lines(f.t) {
		if l["msg"] == "file text extracted" && l["file_id"] == fileID {
			n++
		}
	}
	return n
}

func (f *fixture) lastPrompt() string {
	f.t.Helper()
	reqs := f.fake.Requests()
	got := reqs[len(reqs)-1].Messages
	return got[len(got)-1].Content
}

// A file's text is read once, at upload, and reused by every message it is attached to.
func TestAttachedFileIsReadOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.upload("report.pdf", pdftest.Build(pdftest.Page{Lines: []string{"Quarterly report", "Revenue grew (a lot)."}, Compress: true},
		pdftest.Page{Lines: []string{"Page two"}}))
	if n := f.extractions(doc.Id.String()); n != 1 {
		t.Fatalf("%d extractions at upload", n)
	}
	for i := range 3 {
		r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": fmt.Sprint("question ", i), "file_ids": []string{doc.Id.String()}})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("send: %d %s", r.StatusCode, r.Body)
		}
		want := "<file name=\"report.pdf\">\nQuarterly report\nRevenue grew (a lot).\nPage two\n</file>\n\n" + fmt.Sprint("question ", i)
		if got := f.lastPrompt(); got != want {
			t.Errorf("the model got %q, want %q", got, want)
		}
	}
	if n := f.extractions(doc.Id.String()); n != 1 {
		t.Errorf("%d extractions after three sends", n)
	}
}

// A file uploaded before texts were stored is read on first use, once, and stored; a
// deleted file takes its text with it.
func TestFileFromBeforeIsReadOnFirstUse(t *testing.T) {
	t.Parallel()
	f := setup(t)
	doc := f.upload("notes.txt", []byte("remember the milk"))
	if _, err := f.env.Pool.Exec(t.Context(), "DELETE FROM file_texts"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		c := f.newConversation(f.token, map[string]any{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.env.As(f.token, http.MethodPost, "/api/v1/conversations/"+c.Id.String()+"/messages",
				map[string]any{"content": "what?", "file_ids": []string{doc.Id.String()}})
			if r.StatusCode != http.StatusCreated {
				t.Errorf("send: %d %s", r.StatusCode, r.Body)
			}
		}()
	}
	wg.Wait()
	for _, r := range f.fake.Requests() {
		if got := r.Messages[len(r.Messages)-1].Content; !strings.Contains(got, "remember the milk") {
			t.Errorf("the model got %q", got)
		}
	}
	var stored string
	if err := f.env.Pool.QueryRow(t.Context(), "SELECT text FROM file_texts WHERE file_id = $1", doc.Id).Scan(&stored); err != nil || stored != "remember the milk" {
		t.Fatalf("stored %q, %v", stored, err)
	}
	before := f.extractions(doc.Id.String())
	f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "again", "file_ids": []string{doc.Id.String()}})
	if n := f.extractions(doc.Id.String()); n != before || n < 2 || n > 3 {
		t.Errorf("extractions: %d at upload and first use, %d after another send", before, n)
	}
	if r := f.call(http.MethodDelete, "/api/v1/files/"+doc.Id.String(), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	var n int
	_ = f.env.Pool.QueryRow(t.Context(), "SELECT count(*) FROM file_texts").Scan(&n)
	if n != 0 {
		t.Errorf("%d texts left after the file was deleted", n)
	}
}

// A text over the limit is cut at a character boundary, and the model is told what it got.
func TestTruncatedFileSaysSo(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *config.Config) { c.LLMContextTokens = 1000 })
	big := strings.Repeat("é", 1<<20) // 2 MiB: the 1 MiB limit falls inside a character
	doc := f.upload("big.txt", []byte(big))
	r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "summarise", "file_ids": []string{doc.Id.String()}})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
	got := f.lastPrompt()
	if !strings.Contains(got, "\n[… the rest of the file did not fit]\n[truncated: the first 1048576 bytes of 2097152]\n</file>") {
		t.Errorf("the model got %.300q…%q", got, got[max(0, len(got)-200):])
	}
	var stored int
	_ = f.env.Pool.QueryRow(t.Context(), "SELECT length(text) FROM file_texts WHERE file_id = $1", doc.Id).Scan(&stored)
	if stored != 1<<19 {
		t.Errorf("stored %d characters, want %d", stored, 1<<19)
	}
}
