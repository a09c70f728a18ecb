package exports

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"assistant/gen/db"
)

// FuzzFilename: whatever a conversation's title, its export's name is valid UTF-8, has no
// control or bidi characters, no path separators, quotes or characters Windows refuses,
// no surrounding spaces, is not empty, is at most 80 characters before the extension, and
// ends with the format's extension.
func FuzzFilename(f *testing.F) {
	for _, s := range []string{"Trip to Lisbon", "", "   ", "a/b\\c:d*e?f\"g<h>i|j", "\x00\x01\r\n\t", "\x7f", "\u0085", "\u009b31m",
		"invoice\u202Efdp.exe", "\u2066x\u2069", "\u200E\u200F\u061C", "👨‍👩‍👧‍👦 🇵🇹 👍🏽", "漢字 한국어 مرحبا שלום नमस्ते", "e\u0301 𝕏",
		"\u200Bzero\uFEFF", strings.Repeat("w", 6000), strings.Repeat("語", 81), "\xff\xfe", ". ", "..", " \u3000title\u3000 "} {
		for _, ext := range []string{"pdf", "md", "json"} {
			f.Add(s, ext)
		}
	}
	f.Fuzz(func(t *testing.T, title, ext string) {
		switch ext {
		case "pdf", "md", "json":
		default:
			ext = "pdf"
		}
		name := filename(db.Conversation{Title: title}, ext)
		if !utf8.ValidString(name) {
			t.Fatalf("filename(%q) = %q: not UTF-8", title, name)
		}
		base, ok := strings.CutSuffix(name, "."+ext)
		if !ok || base == "" {
			t.Fatalf("filename(%q) = %q: no name before .%s", title, name, ext)
		}
		if n := utf8.RuneCountInString(base); n > 80 {
			t.Fatalf("filename(%q) = %q: %d characters", title, name, n)
		}
		if strings.TrimSpace(base) != base {
			t.Fatalf("filename(%q) = %q: surrounding spaces", title, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || bidiControl(r) || strings.ContainsRune(`/\:*?"<>|`, r) {
				t.Fatalf("filename(%q) = %q: has %U", title, name, r)
			}
		}
	})
}

// bidiControl is a character that reorders the text around it.
func bidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (0x202A <= r && r <= 0x202E) || (0x2066 <= r && r <= 0x2069)
}
