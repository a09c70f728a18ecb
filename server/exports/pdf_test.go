package exports

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/gen/db"
)

func pdfOf(t testing.TB, ctx context.Context, title string, contents ...string) []byte {
	t.Helper()
	conv := db.Conversation{ID: uuid.New(), Title: title, CreatedAt: time.Unix(0, 0)}
	var msgs []db.Message
	for i, c := range contents {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, db.Message{ID: uuid.New(), Role: role, Content: c, Status: "complete", CreatedAt: time.Unix(0, 0)})
	}
	var buf bytes.Buffer
	if err := renderPDF(ctx, &buf, conv, msgs, time.Unix(0, 0)); err != nil {
		t.Fatalf("render: %v", err)
	}
	return buf.Bytes()
}

func toText(t *testing.T, pdf []byte) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "x.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", in, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func TestPDFSetsEveryScriptOfTheCorpus(t *testing.T) {
	t.Parallel()
	keys := make([]string, 0, len(corpus))
	for k := range corpus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var contents []string
	for _, k := range keys {
		contents = append(contents, k+": "+corpus[k], "| a | b |\n|---|---|\n| "+corpus[k]+" | `"+corpus[k]+"` |")
	}
	pdf := pdfOf(t, context.Background(), "Corpus 😀 "+corpus["chinese"], contents...)
	if os.Getenv("PDF_OUT") != "" {
		_ = os.WriteFile(os.Getenv("PDF_OUT"), pdf, 0o644)
	}
	text := toText(t, pdf)
	for _, want := range []string{"Crème brûlée", "Путешествие", "Καλημέρα", "你好世界", "こんにちは", "カタカナ", "안녕하세요", "\uFFFD"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
}
