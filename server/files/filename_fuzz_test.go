package files

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanFilename: whatever name a client sends, the stored one keeps its promise (no
// directories, no control characters, valid UTF-8, at most 255 bytes), is never empty,
// "." or "..", has no surrounding spaces, and cleaning it again changes nothing.
func FuzzCleanFilename(f *testing.F) {
	for _, s := range []string{"report.pdf", "", " ", ".", "..", "../../etc/passwd", `C:\Users\x\a.txt`, "a/b/", "a\x00b\r\n.txt",
		"\x7f\u0085\u009b", "\xff\xfe.txt", "\uFFFD.txt", "invoice\u202Efdp.exe", "👨‍👩‍👧‍👦 🇵🇹.md", "漢字 한국어 مرحبا.txt",
		strings.Repeat("語", 100), strings.Repeat("w", 6000), " \u3000name\u3000 ", "name\x00 ", ". .", "/..", `a\..`, strings.Repeat("a", 254) + " b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name := CleanFilename(raw)
		switch {
		case !utf8.ValidString(name):
			t.Fatalf("CleanFilename(%q) = %q: not UTF-8", raw, name)
		case name == "" || name == "." || name == "..":
			t.Fatalf("CleanFilename(%q) = %q", raw, name)
		case len(name) > 255:
			t.Fatalf("CleanFilename(%q) = %q: %d bytes", raw, name, len(name))
		case strings.ContainsAny(name, `/\`):
			t.Fatalf("CleanFilename(%q) = %q: a separator", raw, name)
		case strings.TrimSpace(name) != name:
			t.Fatalf("CleanFilename(%q) = %q: surrounding spaces", raw, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("CleanFilename(%q) = %q: has %U", raw, name, r)
			}
		}
		if again := CleanFilename(name); again != name {
			t.Fatalf("CleanFilename(%q) = %q, then %q", raw, name, again)
		}
	})
}
