package exports

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/logging"
	"assistant/server/recovery"
)

func pdfOf(t testing.TB, ctx context.Context, title string, contents ...string) []byte {
	t.Helper()
	conv := db.Conversation{ID: uuid.New(), Title: title, CreatedAt: time.Unix(0, 0)}
	var msgs []db.Message
	for i, c := range contents {
		role := db.MessageRoleUser
		if i%2 == 1 {
			role = db.MessageRoleAssistant
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

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A render whose time is up stops working, not only being waited for: after the answer the
// process's CPU time stays flat. Not parallel, so that this package's other tests do not
// use CPU meanwhile (parallel tests wait for the sequential ones).
func TestRenderPastItsTimeStopsUsingCPU(t *testing.T) {
	h := &Exports{Log: logging.Discard()}
	conv := db.Conversation{ID: uuid.New(), Title: "big", CreatedAt: time.Unix(0, 0)}
	big := strings.Repeat("Lorem ipsum dolor sit amet, 你好世界. ", 20000)
	msgs := make([]db.Message, 20)
	for i := range msgs {
		msgs[i] = db.Message{ID: uuid.New(), Role: "user", Content: big, Status: "complete", CreatedAt: time.Unix(0, 0)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	cpu0, wall0 := cpuTime(t), time.Now()
	err := h.render(ctx, uuid.New(), io.Discard, api.CreateExportRequestFormatPdf, conv, msgs, time.Now())
	cpuDuring, wallDuring := cpuTime(t)-cpu0, time.Since(wall0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("render = %v, want the deadline", err)
	}
	// The render stops at its next check; the longest step without one is registering a
	// font with the document (a CJK face: tens of milliseconds, more under -race).
	limit := time.Now().Add(10 * time.Second)
	for h.Running() != 0 {
		if time.Now().After(limit) {
			t.Fatal("the render was still running 10 s after its deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := time.Since(wall0) - wallDuring
	cpu1 := cpuTime(t)
	time.Sleep(500 * time.Millisecond)
	cpuAfter := cpuTime(t) - cpu1
	t.Logf("during the render: %s CPU in %s; the render stopped %s after the answer; CPU in the 500 ms after that: %s",
		cpuDuring, wallDuring, stopped, cpuAfter)
	if cpuAfter > cpuDuring/4 {
		t.Errorf("the process used %s of CPU after the render stopped (%s during it): work went on", cpuAfter, cpuDuring)
	}
}

// A panicking renderer is an error for its request; the process goes on.
func TestPanickingRendererIsAnError(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := &Exports{Log: logging.New(&logs, nil), toConversation: func(db.Conversation) api.Conversation { panic("renderer bug") }}
	err := h.render(context.Background(), uuid.New(), io.Discard, api.CreateExportRequestFormatJson, db.Conversation{}, nil, time.Now())
	var pe *recovery.PanicError
	if !errors.As(err, &pe) || !strings.Contains(logs.String(), "renderer bug") {
		t.Fatalf("render = %v; log %s", err, logs.String())
	}
	if h.Running() != 0 {
		t.Fatal("the panicked render still counts as running")
	}
}

// Deeply nested quotes and lists stop indenting: their text stays on the page, readable.
func TestDeepNestingKeepsTheTextOnThePage(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 60 {
		b.WriteString(strings.Repeat("  ", i) + "- level\n")
	}
	pdf := pdfOf(t, context.Background(), "nested", strings.Repeat("> ", 200)+"deep quote words here", b.String())
	text := toText(t, pdf)
	if !strings.Contains(text, "deep quote words here") || strings.Count(text, "level") < 60 {
		t.Fatalf("nested text lost:\n%.1000s", text)
	}
}
