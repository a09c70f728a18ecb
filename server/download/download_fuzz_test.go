package download

import (
	"mime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// isBidiControl is a character that reorders the text around it: in a file name it can
// make "invoice\u202Efdp.exe" show as "invoiceexe.pdf".
func isBidiControlForTest(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (0x202A <= r && r <= 0x202E) || (0x2066 <= r && r <= 0x2069)
}

// FuzzContentDisposition: for any name, the header is plain ASCII without control
// characters; it parses as an attachment; its quoted fallback has no quote or backslash;
// the name a client reads from it (filename*, as Go's mime package and browsers decode it)
// is valid UTF-8 without control or bidi characters, never empty; and a name that had none
// of those comes back exactly.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"report.pdf", "naïve \"report\".txt", "", " ", "a\x00b\r\nc.txt", "\x7f", "\u0085x",
		"invoice\u202Efdp.exe", "\u2066x\u2069", "👨‍👩‍👧‍👦 🇵🇹.md", "漢字.json", "한국어.md", "مرحبا.pdf", "e\u0301.txt", "𝕏.txt",
		"\xff\xfe.txt", "a\\b/c.txt", "%41.txt", "x'y'z.txt", "a;b=c.txt", strings.Repeat("w", 6000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		h := ContentDisposition(name)
		for i := 0; i < len(h); i++ {
			if b := h[i]; b < 0x20 || b >= 0x7f {
				t.Fatalf("ContentDisposition(%q) = %q: byte %#x at %d", name, h, b, i)
			}
		}
		disp, params, err := mime.ParseMediaType(h)
		if err != nil || disp != "attachment" {
			t.Fatalf("ContentDisposition(%q) = %q: parses as %q, %v", name, h, disp, err)
		}
		fallback := h[len(`attachment; filename="`):strings.Index(h, `"; filename*=`)]
		if strings.ContainsAny(fallback, `"\`) || fallback == "" {
			t.Fatalf("ContentDisposition(%q) = %q: fallback %q", name, h, fallback)
		}
		got := params["filename"] // mime prefers filename* and decodes it
		if !utf8.ValidString(got) || got == "" {
			t.Fatalf("ContentDisposition(%q) = %q: the client reads %q", name, h, got)
		}
		clean := true
		for _, r := range got {
			if unicode.IsControl(r) || isBidiControlForTest(r) {
				t.Fatalf("ContentDisposition(%q) = %q: the client reads %q, with %U", name, h, got, r)
			}
		}
		for _, r := range name {
			if unicode.IsControl(r) || isBidiControlForTest(r) || r == utf8.RuneError {
				clean = false
			}
		}
		if clean && name != "" && got != name {
			t.Fatalf("ContentDisposition(%q) = %q: the client reads %q", name, h, got)
		}
	})
}
