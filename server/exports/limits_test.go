package exports

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/logging"
)

// Inputs that once made a render outlive its deadline or its memory: each must now finish
// its work, not only its wait, well within generous bounds (they took minutes, or hundreds
// of MB, before).

// consecutive is n consecutive code points from first: in fpdf, a run of used characters
// of equal width made the font's width table cost the cube of its length, inside Output,
// where no context reaches (4,000 ideographs: a minute).
func consecutive(first rune, n int) string {
	var b strings.Builder
	for r := first; r < first+rune(n); r++ {
		b.WriteRune(r)
	}
	return b.String()
}

func renderOne(t *testing.T, timeout time.Duration, content string) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conv := db.Conversation{ID: uuid.New(), Title: "t", CreatedAt: time.Unix(0, 0)}
	msgs := []db.Message{{ID: uuid.New(), Role: "user", Content: content, Status: "complete"}}
	start := time.Now()
	err := renderPDF(ctx, &bytes.Buffer{}, conv, msgs, time.Unix(0, 0))
	return time.Since(start), err
}

func TestConsecutiveCharactersOfEqualWidthRenderQuickly(t *testing.T) {
	t.Parallel()
	for _, s := range []string{consecutive(0x4E00, 4000), "```\n" + consecutive(0x21, 0x2000) + "\n```"} {
		took, err := renderOne(t, 20*time.Second, s)
		if err != nil || took > 20*time.Second {
			t.Errorf("%d consecutive characters: %v after %s", len([]rune(s)), err, took)
		}
	}
}

// goldmark's parse is superlinear in nesting and cannot be stopped: a message longer than
// a user may send is set as plain text.
func TestDeeplyNestedMarkdownStopsAtItsDeadline(t *testing.T) {
	t.Parallel()
	took, err := renderOne(t, 200*time.Millisecond, strings.Repeat(">", 96_000))
	if took > 5*time.Second {
		t.Errorf("96,000 '>' with a 200 ms deadline: %v after %s (the parse took 5 s)", err, took)
	}
}

// Characters without width never fill a line by width; the line is cut by count.
func TestZeroWidthRunsAreCutIntoLines(t *testing.T) {
	t.Parallel()
	for _, zw := range []string{"\uFFFC", "\u0301", "\u2028"} {
		most := 0
		ts := &typesetter{width: 126, emit: func(l line) { most = max(most, len(l.pieces)) }}
		ts.add("x"+strings.Repeat(zw, 1<<18), textStyle{face: monoRegular, size: 8.8})
		ts.finish()
		if most > maxLinePieces || len(ts.word) > maxLinePieces {
			t.Errorf("%U: a line of %d pieces", []rune(zw)[0], most)
		}
	}
}

// A render that its request gave up on frees its worker promptly: the next user is not
// told that every worker is busy.
func TestAnAbandonedRenderFreesItsWorker(t *testing.T) {
	t.Parallel()
	h := &Exports{Workers: 1, Log: logging.Discard()}
	conv := db.Conversation{ID: uuid.New(), Title: "t", CreatedAt: time.Unix(0, 0)}
	heavy := []db.Message{{ID: uuid.New(), Role: "user", Content: strings.Repeat(consecutive(0x4E00, 2000)+"\n\n", 200), Status: "complete"}}
	light := []db.Message{{ID: uuid.New(), Role: "user", Content: "hi", Status: "complete"}}

	ctxA, cancelA := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelA()
	if err := h.render(ctxA, uuid.New(), &bytes.Buffer{}, api.CreateExportRequestFormatPdf, conv, heavy, time.Now()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("user A: %v, want the deadline", err)
	}
	ctxB, cancelB := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelB()
	if err := h.render(ctxB, uuid.New(), &bytes.Buffer{}, api.CreateExportRequestFormatPdf, conv, light, time.Now()); err != nil {
		t.Errorf("user B after A's request gave up: %v", err)
	}
}

// fpdf writes into the font bytes it is given (an append on a slice of them, for glyphs
// past the font's metrics table): the embedded fonts, shared by every render, must come
// out of a render as they went in.
func TestRenderingLeavesTheEmbeddedFontsAlone(t *testing.T) {
	t.Parallel()
	sums := map[*face][32]byte{}
	all := []*face{sansRegular, sansBold, sansItalic, sansBoldItalic, monoRegular, cjkFace, hangulFace, devanagariFace}
	for _, f := range all {
		sums[f] = sha256.Sum256(f.ttf)
	}
	var text []string
	for _, s := range corpus {
		text = append(text, s, "**"+s+"** _"+s+"_ `"+s+"`")
	}
	if _, err := renderOne(t, time.Minute, strings.Join(text, "\n\n")); err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if sha256.Sum256(f.ttf) != sums[f] {
			t.Errorf("rendering changed the bytes of %s %s", f.family, f.style)
		}
	}
}
