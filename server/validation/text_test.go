package validation

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"assistant/gen/api"
)

func TestTextDetails(t *testing.T) {
	t.Parallel()
	fields := func(ds []api.FieldError) []string {
		var fs []string
		for _, d := range ds {
			fs = append(fs, d.Field)
		}
		return fs
	}
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"title":"Trip","n":1,"a":[true,null]}`, nil},
		{`{"title":"a backslash, then u0000: \\u0000"}`, nil},
		{`{"title":"a\u0000b"}`, []string{"body.title"}},
		{`{"a":["ok",{"b":"\u0000"}],"c":"\u0000"}`, []string{"body.a.1.b", "body.c"}},
		{"{\"title\":\"caf\xe9\"}", []string{"body.title"}},      // Latin-1, not UTF-8
		{"{\"title\":\"\xed\xa0\x80\"}", []string{"body.title"}}, // a surrogate in UTF-8 form
		{`{"k\u0000":1}`, []string{`body.k\u0000`}},
		{"{\"title\":\"\\\xff\"}", []string{"body"}}, // bad bytes after a backslash
		{"\xff{", []string{"body"}},                  // not JSON: the validator says so too
		{`{"title":"\u0000"`, nil},                   // not JSON: only the validator answers
		{`{"title":"é ✓ 😀 \ufffd"}`, nil},
	} {
		if diff := cmp.Diff(c.want, fields(bodyText([]byte(c.body)))); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.body, diff)
		}
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"q=caf%C3%A9&cursor=x", nil},
		{"q=%00", []string{"query.q"}},
		{"q=%ff", []string{"query.q"}},
		{"q=ok&cursor=a%FFb", []string{"query.cursor"}},
		{"q=ok&q=%00", []string{"query.q"}},
		{"q=\xff", []string{"query.q"}},
		{"other=%00", nil}, // not a parameter of the operation: never read
		{"q=%zz&cursor=%00", []string{"query.cursor"}},
	} {
		if diff := cmp.Diff(c.want, fields(queryText(c.query, []string{"q", "cursor"}))); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.query, diff)
		}
	}
}

func TestLoneSurrogates(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		`{"a":"x\ud800y"}`:           1,
		`{"a":"\udc00"}`:             1,
		`{"a":"\ud83d\ude00"}`:       0, // 😀
		`{"a":"\\ud800"}`:            0, // a backslash, then text
		`{"a":"\\\ud800"}`:           1,
		`{"a":"\ud800\ud800"}`:       2,
		`{"a":"\ud83d\ude00\udc00"}`: 1,
		`{"a":"\u0041\uD800"}`:       1,
	} {
		if got := len(loneSurrogates([]byte(in))); got != want {
			t.Errorf("%s: %d lone surrogates, want %d", in, got, want)
		}
		if details := bodyText([]byte(in)); (len(details) > 0) != (want > 0) || (want > 0 && details[0].Field != "body.a") {
			t.Errorf("%s: details %+v", in, details)
		}
	}
}
