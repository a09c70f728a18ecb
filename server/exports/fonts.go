package exports

import (
	_ "embed"
	"math"
	"sync"

	"github.com/go-fonts/dejavu/dejavusans"
	"github.com/go-fonts/dejavu/dejavusansbold"
	"github.com/go-fonts/dejavu/dejavusansboldoblique"
	"github.com/go-fonts/dejavu/dejavusansmono"
	"github.com/go-fonts/dejavu/dejavusansoblique"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// The PDF's fonts, embedded (fonts/README.md says where each comes from and its licence).
// DejaVu sets Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic and most symbols;
// the others fill in what DejaVu lacks: CJK ideographs and kana, Hangul, Devanagari. A
// character is drawn in the first face of its style's list that has it.
var (
	//go:embed fonts/DroidSansFallbackFull.ttf
	droidFallbackTTF []byte
	//go:embed fonts/NanumSquareR.ttf
	nanumSquareTTF []byte
	//go:embed fonts/NotoSansDevanagari-Regular.ttf
	notoDevanagariTTF []byte
)

// face is one font file as the PDF writer registers it, with what it covers.
type face struct {
	family, style string
	ttf           []byte

	once   sync.Once
	has    []uint64 // bit per BMP rune: the font has a glyph for it
	widths []uint16 // advance per BMP rune in 1/1000 em, as fpdf computes it
}

var (
	sansRegular    = &face{family: "DejaVuSans", ttf: dejavusans.TTF}
	sansBold       = &face{family: "DejaVuSans", style: "B", ttf: dejavusansbold.TTF}
	sansItalic     = &face{family: "DejaVuSans", style: "I", ttf: dejavusansoblique.TTF}
	sansBoldItalic = &face{family: "DejaVuSans", style: "BI", ttf: dejavusansboldoblique.TTF}
	monoRegular    = &face{family: "DejaVuSansMono", ttf: dejavusansmono.TTF}
	cjkFace        = &face{family: "DroidSansFallback", ttf: droidFallbackTTF}
	hangulFace     = &face{family: "NanumSquare", ttf: nanumSquareTTF}
	devanagariFace = &face{family: "NotoSansDevanagari", ttf: notoDevanagariTTF}

	fallbacks = []*face{cjkFace, hangulFace, devanagariFace}
)

// fpdf writes a font's width table in time cubic in the length of a run of consecutive
// characters of equal width that the document uses (2,000 consecutive CJK ideographs took
// 5 s, 4,000 took a minute, and nothing stops it). So a face is registered as two
// instances and each character is set in the one its block of 64 code points picks,
// alternating: no instance ever uses a run longer than 64.
const instanceBlock = 64

func instanceOf(r rune) uint8 { return uint8(r/instanceBlock) % 2 }

// substitute stands for a character no face has (most emoji, scripts not covered, and
// everything above U+FFFF, which the PDF library cannot set).
const substitute = '\uFFFD'

func (f *face) load() {
	f.once.Do(func() {
		f.has = make([]uint64, 1<<16/64)
		f.widths = make([]uint16, 1<<16)
		font, err := sfnt.Parse(f.ttf)
		if err != nil {
			panic("exports: embedded font " + f.family + ": " + err.Error())
		}
		var buf sfnt.Buffer
		upem := float64(font.UnitsPerEm())
		for r := rune(1); r < 1<<16; r++ {
			g, err := font.GlyphIndex(&buf, r)
			if err != nil || g == 0 {
				continue
			}
			adv, err := font.GlyphAdvance(&buf, g, fixed.I(int(font.UnitsPerEm())), 0)
			if err != nil {
				continue
			}
			f.has[r/64] |= 1 << (r % 64)
			f.widths[r] = uint16(math.Round(float64(adv) / 64 * 1000 / upem))
		}
	})
}

// covers reports whether the font has a glyph for r.
func (f *face) covers(r rune) bool {
	if r < 0 || r >= 1<<16 {
		return false
	}
	f.load()
	return f.has[r/64]&(1<<(r%64)) != 0
}

// width is r's advance in 1/1000 em.
func (f *face) width(r rune) float64 {
	if r < 0 || r >= 1<<16 {
		return 0
	}
	f.load()
	return float64(f.widths[r])
}

// faceFor is the face that sets r in the given primary face, or nil when none has it.
func faceFor(primary *face, r rune) *face {
	if primary.covers(r) {
		return primary
	}
	if primary != sansRegular && sansRegular.covers(r) {
		return sansRegular
	}
	for _, f := range fallbacks {
		if f.covers(r) {
			return f
		}
	}
	return nil
}
