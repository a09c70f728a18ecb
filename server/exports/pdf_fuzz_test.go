package exports

import (
	"bytes"
	"context"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"assistant/gen/db"
)

// Any text a message can hold renders: no panic, no error, a PDF.
func FuzzRenderPDF(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	for _, s := range []string{"", "\x00", "\xff\xfe", "# h\n\n> q\n\n- a\n  - b\n\n```\ncode\t\x01\n```\n\n| a |\n|---|\n| b |",
		"| " + string(rune(0x1F600)) + " |\n|---|\n|" + "\u202E" + "|", "[l](http://x) ![i](y) <b>x</b> `c` **b _i_**",
		"\r\n\r\n\t\t", "a\u0300\u0301\u0302\u0303\u0304", "\uFFFD\uFFFF\uFFFE\U0010FFFF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		conv := db.Conversation{ID: uuid.New(), Title: s, SystemPrompt: &s, CreatedAt: time.Unix(0, 0)}
		model := s
		msgs := []db.Message{{ID: uuid.New(), Role: "user", Content: s, Status: "complete"},
			{ID: uuid.New(), Role: "assistant", Content: s, Status: "failed", Model: &model}}
		var buf bytes.Buffer
		if err := renderPDF(context.Background(), &buf, conv, msgs, time.Unix(0, 0)); err != nil {
			t.Fatalf("render %q (valid UTF-8: %v): %v", s, utf8.ValidString(s), err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Fatalf("not a PDF")
		}
	})
}
