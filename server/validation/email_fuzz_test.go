package validation

import (
	"net/mail"
	"strings"
	"testing"
)

// FuzzValidEmail: an address the validator accepts stays a valid address once the server
// normalises it (trimmed, lower-cased, as accounts stores and answers it), so the answer
// that carries it can always be written. "\u2028\u2029@example.com" once passed and was
// stored as "@example.com": a 500 on register, and an account no client could name.
func FuzzValidEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "ADA@Example.COM", "\u2028\u2029@example.com", "\u00a0a@example.com",
		"a@example.com\u3000", "\u0085@x.y", "a\u2028b@example.com", "İ@example.com", "\u212a@example.com", `"a b"@example.com`,
		"Ada <ada@example.com>", "ada@[127.0.0.1]", "@example.com", "a@", "a@b", "漢字@例え.jp", "a\x00@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidEmail(s) != nil {
			return
		}
		n := strings.ToLower(strings.TrimSpace(s)) // accounts.normalizeEmail
		a, err := mail.ParseAddress(n)
		if err != nil || a.Address != n {
			t.Fatalf("ValidEmail(%q) accepts it, but its stored form %q is not an address (%v)", s, n, err)
		}
	})
}
