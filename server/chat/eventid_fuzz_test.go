package chat

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"assistant/gen/api"
	"assistant/server/generation"
)

// FuzzLastEventID: the handler accepts exactly the Last-Event-ID values the spec's pattern
// accepts (so it never disagrees with the validator), every accepted id is a non-negative
// number written the same way up to leading zeros, and every id the server sends
// (Event.IDString) comes back as itself.
func FuzzLastEventID(f *testing.F) {
	spec, err := api.GetSpec()
	if err != nil {
		f.Fatal(err)
	}
	op := spec.Paths.Find("/conversations/{conversation_id}/messages/{message_id}/events").Get
	p := op.Parameters.GetByInAndName("header", "Last-Event-ID")
	if p == nil || p.Schema.Value.Pattern == "" {
		f.Fatal("the spec has no pattern for Last-Event-ID")
	}
	pattern := regexp.MustCompile(p.Schema.Value.Pattern)
	for _, s := range []string{"0", "1", "42", "000000000000", "999999999999", "1000000000000", "", "-1", "+1", " 1", "1 ",
		"1e3", "0x10", "１２", "٣", "9223372036854775807", "9223372036854775808", "1\x00", "\u202E12"} {
		f.Add(s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		v, ok := lastEventID(s)
		if ok != pattern.MatchString(s) {
			t.Fatalf("lastEventID(%q) accepted=%v, the spec's pattern %q says %v", s, ok, pattern, !ok)
		}
		if ok {
			if v < 0 {
				t.Fatalf("lastEventID(%q) = %d", s, v)
			}
			want := strings.TrimLeft(s, "0")
			if want == "" {
				want = "0"
			}
			if got := strconv.FormatInt(v, 10); got != want {
				t.Fatalf("lastEventID(%q) = %d", s, v)
			}
		}
		// An id the server sent comes back as itself.
		if n < 0 {
			n = -(n + 1)
		}
		n %= 1_000_000_000_000
		id := generation.Event{ID: n}.IDString()
		if back, ok := lastEventID(id); !ok || back != n {
			t.Fatalf("event id %d sent as %q reads back as %d, %v", n, id, back, ok)
		}
	})
}
