package imports

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReadExport cuts any bytes into top-level values and plans every conversation they
// hold, as an import does before storing: it never panics, never holds more than
// MaxConversationBytes of a value, and every plan is storable (parents before children, the
// current message one of its own, no NUL, titles of valid text, within the bounds).
func FuzzReadExport(f *testing.F) {
	for _, seed := range []string{
		`[{"title": "t", "mapping": {"a": {"parent": null, "children": ["b"], "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}}},
		  "b": {"parent": "a", "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["yo"]}, "create_time": 1.7e9}}}, "current_node": "b"}]`,
		`[{"title": "c", "mapping": {"a": {"parent": "b"}, "b": {"parent": "a"}}}]`,
		`{"chat": {"history": {"currentId": "2", "messages": {"1": {"parentId": null, "role": "user", "content": "x", "childrenIds": ["2"]}, "2": {"parentId": "1", "role": "assistant", "content": [{"type": "text", "text": "y"}]}}}}}`,
		`{"format": "assistant.conversation/v1", "conversation": {"title": "x", "current_message_id": "b"}, "messages": [{"id": "a", "parent_id": null, "role": "user", "content": "q"}, {"id": "b", "parent_id": "a", "role": "assistant", "content": "r"}]}`,
		`[[[[[[]]]]]]`, `[1, "x", null]`, `{"a": "\u0000"}`, "\xef\xbb\xbf[]", `[{"chat": {"messages": [{"role": "user", "content": "\ud800"}]}}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newStream(bytes.NewReader(b))
		c, err := s.next()
		if err != nil {
			return
		}
		if c == '[' {
			if c, err = s.next(); err != nil {
				return
			}
		}
		var buf []byte
		for range 100 {
			start := s.off
			data, over, err := s.value(c, buf[:0], 1<<10)
			buf = data
			if len(data) > 1<<10 {
				t.Fatalf("held %d bytes of a value", len(data))
			}
			var syn *syntaxError
			if err != nil {
				if !errors.As(err, &syn) && err != io.EOF {
					t.Fatalf("value: %v", err)
				}
				if syn != nil && (syn.off < start-1 || syn.off > int64(len(b))) {
					t.Fatalf("syntax error at %d, outside %d..%d", syn.off, start, len(b))
				}
				return
			}
			if !over {
				check(t, data)
			}
			if c, err = s.next(); err != nil || c != ',' {
				return
			}
			if c, err = s.next(); err != nil {
				return
			}
		}
	})
}

func check(t *testing.T, data []byte) {
	var e element
	if err := json.Unmarshal(data, &e); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return
		}
	}
	if e.format() == unknown {
		return
	}
	conv := e.conversation()
	p, err := conv.plan(time.Now())
	if err != nil {
		var rej *rejected
		if !errors.As(err, &rej) {
			t.Fatalf("plan: %v", err)
		}
		return
	}
	if len(p.messages) == 0 || len(p.messages) > MaxMessages || p.current < 0 || p.current >= len(p.messages) {
		t.Fatalf("%d messages, current %d", len(p.messages), p.current)
	}
	for i, m := range p.messages {
		if m.parent >= i || m.parent < -1 {
			t.Fatalf("message %d has parent %d", i, m.parent)
		}
		if strings.IndexByte(m.content, 0) >= 0 || !utf8.ValidString(m.content) || (m.role != "user" && m.role != "assistant") {
			t.Fatalf("message %d is not storable: %q %q", i, m.role, m.content)
		}
		if m.created.IsZero() {
			t.Fatalf("message %d has no time", i)
		}
	}
	if strings.IndexByte(p.title, 0) >= 0 || !utf8.ValidString(p.title) || utf8.RuneCountInString(p.title) > 200 {
		t.Fatalf("title %q", p.title)
	}
	if p.updated.Before(p.created) {
		t.Fatalf("updated %v before created %v", p.updated, p.created)
	}
}
