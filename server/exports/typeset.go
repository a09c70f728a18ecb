package exports

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// The PDF library's own text flow (Write, MultiCell) is quadratic in a paragraph's length,
// sets one font per call and panics on characters above U+FFFF. So text is laid out here, in
// one pass over its grapheme clusters: each cluster gets the face that has its base
// character (or the substitute), lines break greedily at spaces and after CJK characters,
// and a word longer than a line (or than maxLinePieces clusters) is cut where the line
// ends. Only the line being filled is held in memory, so a paragraph of any length costs
// time linear in its length.

// mmPerPt converts font sizes (points) to the page's unit (millimetres).
const mmPerPt = 25.4 / 72

type rgb [3]uint8

// maxLinePieces bounds a line's clusters whatever their widths: a run of zero-width
// characters never fills a line by width.
const maxLinePieces = 1000

// textStyle is what a span of text is set in: its primary face (fallbacks are chosen per
// character), size in points, and colour.
type textStyle struct {
	face  *face
	size  float64
	color rgb
}

// piece is one grapheme cluster as it is set: its text (only characters the face has), the
// face and its width on the page.
type piece struct {
	text  string
	face  *face
	inst  uint8 // the face's instance (instanceOf the first character)
	size  float64
	color rgb
	w     float64
}

// line is a laid-out line: pieces left to right and their total width.
type line struct {
	pieces []piece
	w      float64
}

// typesetter fills lines of a given width and hands each full line to emit.
type typesetter struct {
	width float64
	emit  func(line) // the line's memory is reused afterwards
	// keepSpaces sets spaces as they are (code): every space is a character and a place
	// where the line may break; otherwise runs of spaces collapse into one, dropped at the
	// start of a line.
	keepSpaces bool
	// stop is polled every few thousand clusters; when it reports true, nothing more is set.
	stop    func() bool
	stopped bool

	cur   line
	word  []piece
	wordW float64
	space *piece
	n     int
}

// add sets s in style st after what was added before.
func (t *typesetter) add(s string, st textStyle) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, string(substitute))
	}
	state := -1
	var c string
	for len(s) > 0 && !t.stopped {
		c, s, _, state = uniseg.FirstGraphemeClusterInString(s, state)
		t.cluster(c, st)
		t.n++
		if t.n%2048 == 0 && t.stop != nil && t.stop() {
			t.stopped = true
		}
	}
}

// finish emits the last, partly filled line.
func (t *typesetter) finish() {
	t.flushWord()
	if len(t.cur.pieces) > 0 {
		t.newline()
	}
}

func (t *typesetter) cluster(c string, st textStyle) {
	base, baseLen := rune(-1), 0
	for i, r := range c {
		if r == '\n' || r == '\u2028' || r == '\u2029' {
			t.flushWord()
			t.newline()
			return
		}
		if !ignorable(r) {
			base, baseLen = r, i+utf8.RuneLen(r)
			break
		}
	}
	if base < 0 {
		return // only format or control characters: nothing to draw
	}
	if isBreakingSpace(base) {
		if t.keepSpaces {
			t.glyph(" ", st.face, st)
			t.flushWord()
			return
		}
		t.flushWord()
		if t.space == nil {
			sp := t.piece(" ", st.face, st)
			t.space = &sp
		}
		return
	}
	f := faceFor(st.face, base)
	text := c
	switch {
	case f == nil:
		f, text = substituteFace(st.face), string(substitute)
	case baseLen != len(c):
		// Keep the base and the marks that follow it that the same face has; drop the
		// rest (variation selectors, joiners, marks no face draws).
		var b strings.Builder
		b.WriteRune(base)
		for _, r := range c[baseLen:] {
			if !ignorable(r) && f.covers(r) {
				b.WriteRune(r)
			}
		}
		text = b.String()
	}
	t.glyph(text, f, st)
	if isWide(base) {
		t.flushWord() // CJK text breaks between any two characters
	}
}

func (t *typesetter) piece(text string, f *face, st textStyle) piece {
	var w float64
	for _, r := range text {
		w += f.width(r)
	}
	first, _ := utf8.DecodeRuneInString(text)
	return piece{text: text, face: f, inst: instanceOf(first), size: st.size, color: st.color, w: w / 1000 * st.size * mmPerPt}
}

func (t *typesetter) glyph(text string, f *face, st textStyle) {
	p := t.piece(text, f, st)
	if len(t.word) > 0 && (t.wordW+p.w > t.width || len(t.word) >= maxLinePieces) {
		// A word wider than the line: what fits goes on a line of its own.
		t.flushWord()
		t.newline()
	}
	t.word = append(t.word, p)
	t.wordW += p.w
}

// flushWord puts the pending word (and the space before it) on the current line, or on
// the next when it does not fit.
func (t *typesetter) flushWord() {
	if len(t.word) == 0 {
		return
	}
	var sw float64
	if t.space != nil && len(t.cur.pieces) > 0 {
		sw = t.space.w
	}
	if len(t.cur.pieces) > 0 && (t.cur.w+sw+t.wordW > t.width || len(t.cur.pieces)+len(t.word) > maxLinePieces) {
		t.newline()
		sw = 0
	}
	if sw > 0 {
		t.cur.pieces = append(t.cur.pieces, *t.space)
		t.cur.w += sw
	}
	t.cur.pieces = append(t.cur.pieces, t.word...)
	t.cur.w += t.wordW
	t.word, t.wordW, t.space = t.word[:0], 0, nil
}

// newline hands the current line to emit and starts the next in the same memory: emit
// must copy what it keeps.
func (t *typesetter) newline() {
	l := t.cur
	t.cur = line{pieces: l.pieces[:0]}
	t.space = nil
	t.emit(l)
}

// ignorable characters are not drawn: controls, format characters (joiners, bidi
// controls, soft hyphen, tags), variation selectors and emoji skin-tone modifiers.
func ignorable(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20, r >= 0x7F && r < 0xA0:
		return true
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF, r >= 0x1F3FB && r <= 0x1F3FF:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

func isBreakingSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == 0x3000 || (unicode.Is(unicode.Zs, r) && r != 0xA0 && r != 0x2007 && r != 0x202F)
}

// isWide is true for the scripts written without spaces between words (CJK), where a line
// may break between any two characters.
func isWide(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) ||
		(r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFFEF)
}

// substituteFace is the face that draws the substitute in a style: the style's own when it
// has it.
func substituteFace(primary *face) *face {
	if primary.covers(substitute) {
		return primary
	}
	return sansRegular
}

// bmpOnly replaces what the PDF library cannot encode (characters above U+FFFF, NUL) with
// the substitute, for text that does not go through a typesetter (document metadata).
func bmpOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 0xFFFF || r == 0 {
			return substitute
		}
		return r
	}, strings.ToValidUTF8(s, string(substitute)))
}
