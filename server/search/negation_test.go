package search_test

import (
	"slices"
	"testing"

	"assistant/server/testutil/apitest"
)

// `apple -"pear green"` is apple & !(pear <-> green): a message with apple, pear and green
// but not the phrase matches it. The candidate filter must not turn the negated phrase into
// !(pear & green), which would miss that message.
func TestExcludedPhraseStillFindsTheRest(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ada := newUser(t, env, "ada@example.com")
	conv := ada.conversation("fruit")
	want := ada.send(conv, "red apple green pear")
	for _, q := range []string{`apple -"pear green"`, `-"pear green" apple`, `apple -"green apple pear"`} {
		got := userMessages(ada.search(q, ""))
		if !slices.Contains(got, want) {
			t.Errorf("q=%s: %v, want the message %s (it has apple and not the phrase)", q, got, want)
		}
	}
}
