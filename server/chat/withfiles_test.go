package chat

import (
	"strings"
	"testing"

	"assistant/server/files"
)

// Files come first in the context budget; one that does not fit is cut, and the files after
// it are cut to nothing, each saying so (a negative remainder once sliced a string at -39).
func TestWithFilesPastTheBudget(t *testing.T) {
	t.Parallel()
	docs := []files.Doc{{Name: "big.txt", Text: strings.Repeat("a", 40_000)}, {Name: "small.txt", Text: "hi"},
		{Name: "wide.txt", Text: strings.Repeat("é", 100)}}
	for _, budget := range []int{-5, 0, 1, 100, 10_000, 20_000} {
		got := withFiles(docs, "question", budget)
		if !strings.HasSuffix(got, "question") || strings.Count(got, "<file name=") != 3 {
			t.Fatalf("budget %d: %.200q", budget, got)
		}
		if budget*4 < 40_000 && strings.Count(got, "[… the rest of the file did not fit]") < 2 {
			t.Errorf("budget %d: the files past the budget do not say they were cut", budget)
		}
		if !strings.Contains(got, "question") || strings.Contains(got, "\uFFFD") {
			t.Errorf("budget %d: a character was split", budget)
		}
	}
}
