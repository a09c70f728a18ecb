package chat_test

import (
	"net/http"
	"strings"
	"testing"

	"assistant/gen/api"
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
	eve := f.env.Register("eve@example.com", "correct horse battery").AccessToken
	r := f.env.Upload(eve, "eve.txt", []byte("eve's"))
	var evesFile api.File
	r.JSON(t, &evesFile)
	for name, id := range map[string]string{"image": img.Id.String(), "broken pdf": bad.Id.String(), "someone else's": evesFile.Id.String()} {
		r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "read it", "file_ids": []string{id}})
		e := r.Envelope(t)
		if r.StatusCode != http.StatusUnprocessableEntity || e.Details == nil || (*e.Details)[0].Field != "body.file_ids.0" {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
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
