package pagination

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/server/apierr"
)

// FuzzDecodeCursor: any string a client sends as ?cursor= either decodes to a position
// with an id, which re-encodes to a cursor that decodes to the same position (and encoding
// that again changes nothing), or is a 422 on query.cursor. It never panics.
func FuzzDecodeCursor(f *testing.F) {
	id := uuid.MustParse("01926f3e-6d2a-7cc1-9a6e-2f1d2b3c4d5e")
	for _, s := range []string{
		Encode(Position{At: time.Date(2026, 12, 1, 18, 0, 0, 123456789, time.UTC), ID: id}),
		Encode(Position{ID: id}),
		Encode(Position{At: time.Date(1, 1, 1, 0, 0, 0, 1, time.FixedZone("x", -3600)), ID: id}),
		"", "=", "e30", "bnVsbA", "W10",
		base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2026-12-01T18:00:00+14:00","i":"` + id.String() + `"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"i":"00000000-0000-0000-0000-000000000000"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"i":"` + id.String() + `","i":"x"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"I":"` + id.String() + `","T":"9999-12-31T23:59:59.999999999Z","x":[1]}`)),
		base64.RawURLEncoding.EncodeToString([]byte("{\"i\":\"" + id.String() + "\"}\x00")),
		base64.StdEncoding.EncodeToString([]byte(`{"i":"` + id.String() + `"}`)),
		"%ff%fe", "\x00", "😀",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Decode(&s)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || len(e.Details) != 1 || e.Details[0].Field != "query.cursor" {
				t.Fatalf("Decode(%q): error %#v is not a 422 on query.cursor", s, err)
			}
			if p != nil {
				t.Fatalf("Decode(%q): a position with an error", s)
			}
			return
		}
		if p == nil || p.ID == uuid.Nil {
			t.Fatalf("Decode(%q) = %+v: no id", s, p)
		}
		c := Encode(*p)
		if c == "" {
			t.Fatalf("Decode(%q) = %+v, which does not encode", s, p)
		}
		q, err := Decode(&c)
		if err != nil {
			t.Fatalf("Decode(%q) = %+v, re-encoded as %q, which does not decode: %v", s, p, c, err)
		}
		if diff := cmp.Diff(*p, *q); diff != "" {
			t.Fatalf("Decode(%q), re-encoded and decoded (-first +second):\n%s", s, diff)
		}
		if c2 := Encode(*q); c2 != c {
			t.Fatalf("Decode(%q): re-encoding is not stable: %q then %q", s, c, c2)
		}
	})
}

// FuzzCursorRoundTrip: the cursor of every position a list can end on (an id and a time
// PostgreSQL and JSON can both hold, years 1 to 9999) is short enough for the spec's
// maxLength, URL-safe, and decodes to exactly that position; encoding it again gives the
// same cursor.
func FuzzCursorRoundTrip(f *testing.F) {
	f.Add(int64(0), int64(0), []byte("0123456789abcdef"), 0)
	f.Add(int64(1796150000), int64(999999999), []byte{1, 2, 3}, 14*3600)
	f.Add(int64(-62135596800), int64(0), []byte{}, -12*3600)
	f.Add(int64(253402300799), int64(999999999), []byte{0xff}, 0)
	f.Fuzz(func(t *testing.T, sec, nsec int64, idBytes []byte, offset int) {
		var id uuid.UUID
		copy(id[:], idBytes)
		if id == uuid.Nil {
			id[15] = 1
		}
		at := time.Unix(sec, nsec%1e9).In(time.FixedZone("", offset%(24*3600)))
		if u := at.UTC().Year(); u < 1 || u > 9999 {
			t.Skip("outside what PostgreSQL timestamps and JSON times share")
		}
		p := Position{At: at, ID: id}
		c := Encode(p)
		if c == "" || len(c) > 200 {
			t.Fatalf("Encode(%+v) = %q: empty or over the spec's maxLength 200", p, c)
		}
		for _, r := range c {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				t.Fatalf("Encode(%+v) = %q: %q is not URL-safe", p, c, r)
			}
		}
		q, err := Decode(&c)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)) = %v", p, err)
		}
		if diff := cmp.Diff(p, *q); diff != "" {
			t.Fatalf("Decode(Encode(p)) (-p +decoded):\n%s", diff)
		}
		if c2 := Encode(*q); c2 != c {
			t.Fatalf("Encode(Decode(%q)) = %q", c, c2)
		}
	})
}
