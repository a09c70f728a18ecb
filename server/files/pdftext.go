package files

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
)

// Reading a PDF's text, bounded. github.com/ledongthuc/pdf parses the document (cross
// references, objects, the page tree's values, fonts and their encodings) and decodes
// streams as streams; but its text extraction (Reader.GetPlainText, Page.GetPlainText,
// Page.Content) collects a whole page's text in memory, and its content-stream
// interpreter keeps any one string, and every operand before the next operator, whole: a
// 200 KB file whose one page inflates to 56 MB of content made it allocate hundreds of
// megabytes per read. So the content streams are read here, as streams: strings and
// operands are capped, text stops at the byte limit, and the time limit is checked as the
// stream is read. The page tree and inherited resources are walked here too, with a depth
// and a count limit, because the library's walks follow cycles forever.

const (
	// maxOperandBytes bounds the string bytes kept between two operators (a TJ array, a
	// Tj string); the rest of an oversized string is read and dropped.
	maxOperandBytes = 256 << 10
	// maxOperands bounds the operands kept before an operator, array elements included.
	maxOperands = 4096
	// maxWord bounds a name, number or operator.
	maxWord = 256
	// maxCmapBytes bounds one font's ToUnicode map, decoded; maxCmapTotal all of a file's.
	// A font over either decodes its strings byte for byte instead.
	maxCmapBytes = 1 << 20
	maxCmapTotal = 4 << 20
	// maxFonts bounds the distinct fonts whose encodings are kept.
	maxFonts = 256
	// maxTreeDepth bounds the page tree's nesting (and a resource inheritance chain).
	maxTreeDepth = 32
	// maxColumns bounds a FlateDecode predictor's row (the library allocates it as given).
	maxColumns = 1 << 16
	// decodeChunk is how much of one string is decoded between two checks of the deadline.
	decodeChunk = 1024
)

// errTooMuchMemory is the outcome of a PDF whose reading tripped the heap breaker.
const errTooMuchMemory = "reading the PDF took too much memory"

// errStop ends reading: a limit was reached (stop.why says which).
var errStop = errors.New("stop")

type pdfReader struct {
	ctx      context.Context
	lim      TextLimits
	out      strings.Builder
	lineText bool // text was written since the last line break
	// streamLeft is what remains of the decoded content-stream bytes allowed.
	streamLeft int64
	cmapLeft   int64
	fonts      map[string]pdf.TextEncoding
	// why says which limit stopped reading ("" when none did).
	why string
	// badPages counts pages that could not be read.
	badPages int
}

// pdfText reads the text of the PDF in ra, page by page, within lim. It never panics: the
// parser's panics on malformed input are a file without readable text.
func pdfText(ctx context.Context, ra io.ReaderAt, size int64, lim TextLimits) (res textResult) {
	if err := checkStructure(ra, size); err != nil {
		return textResult{Err: "malformed PDF"}
	}
	guarded := newDeadlineReaderAt(ctx, ra)
	defer func() {
		if v := recover(); v != nil {
			res = textResult{Err: "malformed PDF"}
		}
		// What stopped the reads says why there is no text.
		if res.Err != "" && guarded.overHeap {
			res = textResult{Err: errTooMuchMemory}
		} else if res.Err != "" && ctx.Err() != nil {
			res = textResult{Err: fmt.Sprintf("reading the PDF took longer than %s", lim.Timeout)}
		}
	}()
	r, err := pdf.NewReader(guarded, size)
	if errors.Is(err, pdf.ErrInvalidPassword) {
		return textResult{Err: "the PDF is encrypted"}
	}
	if err != nil {
		return textResult{Err: "malformed PDF"}
	}
	p := &pdfReader{ctx: ctx, lim: lim, streamLeft: lim.MaxStreamBytes, cmapLeft: maxCmapTotal, fonts: map[string]pdf.TextEncoding{}}
	root := r.Trailer().Key("Root").Key("Pages")
	total := int(min(max(root.Key("Count").Int64(), 0), 1<<30))
	pages := 0
	walkPages(root, lim.MaxPages*4+64, func(page pdf.Value) bool {
		if pages == lim.MaxPages {
			p.why = fmt.Sprintf("the text of the first %d pages of %d (the page limit)", pages, max(total, pages+1))
			return false
		}
		pages++
		if err := ctx.Err(); err != nil {
			p.why = fmt.Sprintf("the text of the first %d pages of %d read in the %s allowed", pages-1, max(total, pages), lim.Timeout)
			return false
		}
		if err := p.page(page); errors.Is(err, errStop) {
			switch p.why {
			case "bytes":
				// %%d: the length of the text as stored, known below.
				p.why = fmt.Sprintf("the first %%d bytes of the text, up to page %d of %d", pages, max(total, pages))
			case "time":
				p.why = fmt.Sprintf("the text of pages 1 to %d of %d read in the %s allowed, page %d in part", pages, max(total, pages), lim.Timeout, pages)
			case "stream":
				p.why = fmt.Sprintf("the text of the first %d MiB of page content, up to page %d of %d", lim.MaxStreamBytes>>20, pages, max(total, pages))
			}
			return false
		} else if err != nil {
			p.badPages++
		}
		if guarded.overHeap {
			p.why = fmt.Sprintf("the text of the first %d pages of %d; page %d took too much memory", pages-1, max(total, pages), pages)
			return false
		}
		return true
	})
	text := strings.TrimSpace(cleanText(p.out.String()))
	switch {
	case text != "" && strings.HasPrefix(p.why, "the first %d bytes"):
		return textResult{Text: text, Truncated: fmt.Sprintf(p.why, len(text))}
	case text != "":
		return textResult{Text: text, Truncated: p.why}
	case ctx.Err() != nil:
		return textResult{Err: fmt.Sprintf("reading the PDF took longer than %s", lim.Timeout)}
	case p.badPages > 0:
		return textResult{Err: "malformed PDF"}
	}
	return textResult{Err: "the PDF has no text"}
}

// walkPages calls visit with each page of the tree under root, in order, until visit
// returns false. It follows at most budget nodes and maxTreeDepth levels, and each node
// once: a tree whose kids lead back to an ancestor ends there.
func walkPages(root pdf.Value, budget int, visit func(pdf.Value) bool) {
	type frame struct {
		kids pdf.Value
		next int
	}
	// A node is known by its dictionary, in which other objects are references.
	seen := map[string]bool{root.String(): true}
	stack := []frame{{kids: root.Key("Kids")}}
	for len(stack) > 0 && budget > 0 {
		top := &stack[len(stack)-1]
		if top.next >= top.kids.Len() {
			stack = stack[:len(stack)-1]
			continue
		}
		kid := top.kids.Index(top.next)
		top.next++
		budget--
		if kid.Kind() != pdf.Dict {
			continue
		}
		if key := kid.String(); seen[key] {
			continue
		} else {
			seen[key] = true
		}
		switch {
		case kid.Key("Type").Name() == "Pages" || kid.Key("Type").Name() != "Page" && kid.Key("Kids").Kind() == pdf.Array:
			if len(stack) < maxTreeDepth {
				stack = append(stack, frame{kids: kid.Key("Kids")})
			}
		default:
			if !visit(kid) {
				return
			}
		}
	}
}

// inherited finds a page attribute on the page or its ancestors (bounded).
func inherited(page pdf.Value, key string) pdf.Value {
	v := page
	for range maxTreeDepth {
		if v.Kind() != pdf.Dict {
			break
		}
		if r := v.Key(key); !r.IsNull() {
			return r
		}
		v = v.Key("Parent")
	}
	return pdf.Value{}
}

// page writes one page's text. A malformed page is an error (the others are still read);
// errStop means a limit was reached.
func (p *pdfReader) page(page pdf.Value) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("malformed page: %v", v)
		}
	}()
	contents := page.Key("Contents")
	if contents.IsNull() {
		return nil
	}
	fonts := inherited(page, "Resources").Key("Font")
	cs := &contentStreams{v: contents, left: &p.streamLeft}
	lx := &lexer{r: bufio.NewReaderSize(cs, 32<<10)}
	return p.interpret(lx, fonts)
}

// contentStreams reads a page's content stream, or its array of streams one after the
// other (opening each only when the previous ends), within the decoded-bytes budget.
type contentStreams struct {
	v    pdf.Value
	i    int
	cur  io.Reader
	left *int64
	over bool
}

var errStreamBudget = errors.New("content stream budget")

func (c *contentStreams) Read(b []byte) (int, error) {
	for {
		if *c.left <= 0 {
			c.over = true
			return 0, errStreamBudget
		}
		if c.cur == nil {
			var s pdf.Value
			switch {
			case c.v.Kind() == pdf.Stream && c.i == 0:
				s = c.v
			case c.v.Kind() == pdf.Array && c.i < c.v.Len():
				s = c.v.Index(c.i)
			default:
				return 0, io.EOF
			}
			c.i++
			if !streamOK(s) {
				continue
			}
			c.cur = s.Reader()
			if c.i > 1 {
				// Streams of one page are separated as if by white space.
				b[0] = '\n'
				*c.left--
				return 1, nil
			}
		}
		n, err := c.cur.Read(b[:min(int64(len(b)), *c.left)])
		*c.left -= int64(n)
		if err == io.EOF {
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// streamOK refuses streams the library would decode with an allocation of the file's
// choosing (a predictor row of any width), and values that are not streams.
func streamOK(s pdf.Value) bool {
	if s.Kind() != pdf.Stream {
		return false
	}
	parms := s.Key("DecodeParms")
	check := func(v pdf.Value) bool { return v.Key("Columns").Int64() <= maxColumns }
	if parms.Kind() == pdf.Array {
		for i := range min(parms.Len(), 8) {
			if !check(parms.Index(i)) {
				return false
			}
		}
		return true
	}
	return check(parms)
}

// font returns the encoding of the page's font called name, parsed once per file.
func (p *pdfReader) font(fonts pdf.Value, name string) pdf.TextEncoding {
	f := fonts.Key(name)
	if f.Kind() != pdf.Dict {
		return rawEncoding{}
	}
	key := f.String() // the font's dictionary, other objects by reference: the same font
	if enc, ok := p.fonts[key]; ok {
		return enc
	}
	enc := p.encoding(f)
	if len(p.fonts) < maxFonts {
		p.fonts[key] = enc
	}
	return enc
}

// encoding is the font's encoding, or raw bytes when its ToUnicode map is over the limits
// or cannot be read.
func (p *pdfReader) encoding(f pdf.Value) (enc pdf.TextEncoding) {
	defer func() {
		if recover() != nil {
			enc = rawEncoding{}
		}
	}()
	if tu := f.Key("ToUnicode"); !tu.IsNull() {
		if !streamOK(tu) {
			return rawEncoding{}
		}
		n, ok := cmapOK(tu.Reader(), min(maxCmapBytes, p.cmapLeft))
		p.cmapLeft -= n
		if !ok {
			return rawEncoding{}
		}
	}
	font := pdf.Font{V: f}
	if enc := font.Encoder(); enc != nil {
		return enc
	}
	return rawEncoding{}
}

// rawEncoding shows a string's bytes as they are.
type rawEncoding struct{}

func (rawEncoding) Decode(raw string) string { return raw }

// interpret runs the text operators of a content stream.
func (p *pdfReader) interpret(lx *lexer, fonts pdf.Value) error {
	var (
		enc       pdf.TextEncoding = rawEncoding{}
		pageFonts                  = map[string]pdf.TextEncoding{} // by resource name: parsed once a page
		operands  []token
		pending   int // string bytes held in operands
		depth     int // inside an array
		tokens    int
	)
	for {
		if tokens++; tokens%1024 == 0 && p.ctx.Err() != nil {
			p.why = "time"
			return errStop
		}
		t := lx.next(maxOperandBytes - pending)
		switch t.kind {
		case tokEOF:
			if errors.Is(lx.err, errStreamBudget) {
				p.why = "stream"
				return errStop
			}
			if lx.err != nil && lx.err != io.EOF {
				return lx.err
			}
			return nil
		case tokArrayStart:
			depth++
			continue
		case tokArrayEnd:
			depth = max(depth-1, 0)
			continue
		case tokOperator:
			if depth > 0 {
				continue // not an operand; malformed
			}
		default:
			if len(operands) < maxOperands {
				t.inArray = depth > 0
				operands = append(operands, t)
				pending += len(t.s)
			}
			continue
		}
		var err error
		switch t.s {
		case "BT", "T*", "Tm":
			p.newline()
		case "Td", "TD":
			if len(operands) == 2 && operands[1].num != 0 {
				p.newline()
			}
		case "Tf":
			if len(operands) == 2 && operands[0].kind == tokName {
				name := operands[0].s
				var ok bool
				if enc, ok = pageFonts[name]; !ok {
					enc = p.font(fonts, name)
					if len(pageFonts) < maxFonts {
						pageFonts[name] = enc
					}
				}
			}
		case "'", "\"":
			p.newline()
			fallthrough
		case "Tj":
			if n := len(operands); n > 0 && operands[n-1].kind == tokString {
				err = p.show(enc, operands[n-1].s)
			}
		case "TJ":
			for _, o := range operands {
				if !o.inArray {
					continue
				}
				if o.kind == tokString {
					err = p.show(enc, o.s)
				} else if o.kind == tokNumber && o.num <= -250 {
					// A wide negative adjustment is a space between words.
					err = p.write(" ")
				}
				if err != nil {
					break
				}
			}
		case "ID":
			lx.skipInlineImage()
		}
		if err != nil {
			return err
		}
		operands, pending = operands[:0], 0
	}
}

func (p *pdfReader) newline() {
	if p.lineText {
		_ = p.write("\n")
		p.lineText = false
	}
}

// show decodes a string in chunks, checking the deadline between them.
func (p *pdfReader) show(enc pdf.TextEncoding, raw string) error {
	for len(raw) > 0 {
		n := min(len(raw), decodeChunk)
		if err := p.write(decode(enc, raw[:n])); err != nil {
			return err
		}
		raw = raw[n:]
		if len(raw) > 0 && p.ctx.Err() != nil {
			p.why = "time"
			return errStop
		}
	}
	return nil
}

// decode is enc.Decode, with a font whose map cannot decode the string showing nothing.
func decode(enc pdf.TextEncoding, raw string) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	return enc.Decode(raw)
}

// write appends text up to the byte limit; reaching it is errStop.
func (p *pdfReader) write(s string) error {
	if s == "" {
		return nil
	}
	if s != "\n" {
		p.lineText = true
	}
	left := p.lim.MaxBytes - p.out.Len()
	if len(s) <= left {
		p.out.WriteString(s)
		return nil
	}
	cut := left
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	p.out.WriteString(s[:cut])
	p.why = "bytes"
	return errStop
}

// cleanText makes extracted text storable and readable: valid UTF-8, no NUL bytes.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokString
	tokName
	tokNumber
	tokOther // true, false, null, dictionary delimiters: operands whose value is not used
	tokArrayStart
	tokArrayEnd
	tokOperator
)

type token struct {
	kind    tokenKind
	s       string
	num     float64
	inArray bool
}

// lexer splits a content stream into tokens (PDF 32000-1:2008, 7.2 and 7.8.2), keeping at
// most a given number of bytes of any string and maxWord of anything else.
type lexer struct {
	r   *bufio.Reader
	err error
	buf []byte
}

func (lx *lexer) byte() (byte, bool) {
	c, err := lx.r.ReadByte()
	if err != nil {
		if lx.err == nil {
			lx.err = err
		}
		return 0, false
	}
	return c, true
}

func isSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelim(c byte) bool {
	return strings.IndexByte("()<>[]{}/%", c) >= 0
}

// next returns the next token; a string keeps at most keep bytes.
func (lx *lexer) next(keep int) token {
	for {
		c, ok := lx.byte()
		if !ok {
			return token{kind: tokEOF}
		}
		switch {
		case isSpace(c):
			continue
		case c == '%':
			for c != '\n' && c != '\r' {
				if c, ok = lx.byte(); !ok {
					return token{kind: tokEOF}
				}
			}
			continue
		case c == '(':
			return token{kind: tokString, s: lx.literal(keep)}
		case c == '<':
			if n, _ := lx.r.Peek(1); len(n) == 1 && n[0] == '<' {
				_, _ = lx.r.ReadByte()
				return token{kind: tokOther}
			}
			return token{kind: tokString, s: lx.hex(keep)}
		case c == '>':
			if n, _ := lx.r.Peek(1); len(n) == 1 && n[0] == '>' {
				_, _ = lx.r.ReadByte()
			}
			return token{kind: tokOther}
		case c == '[':
			return token{kind: tokArrayStart}
		case c == ']':
			return token{kind: tokArrayEnd}
		case c == '{' || c == '}' || c == ')':
			return token{kind: tokOther}
		case c == '/':
			return token{kind: tokName, s: unescapeName(lx.word(0))}
		default:
			w := lx.word(c)
			switch {
			case w == "true" || w == "false" || w == "null":
				return token{kind: tokOther}
			case strings.IndexByte("+-.0123456789", w[0]) >= 0:
				n, _ := strconv.ParseFloat(w, 64)
				return token{kind: tokNumber, num: n}
			}
			return token{kind: tokOperator, s: w}
		}
	}
}

// word reads regular characters (after first, when not 0).
func (lx *lexer) word(first byte) string {
	lx.buf = lx.buf[:0]
	if first != 0 {
		lx.buf = append(lx.buf, first)
	}
	for {
		n, _ := lx.r.Peek(1)
		if len(n) == 0 || isSpace(n[0]) || isDelim(n[0]) {
			break
		}
		_, _ = lx.r.ReadByte()
		if len(lx.buf) < maxWord {
			lx.buf = append(lx.buf, n[0])
		}
	}
	return string(lx.buf)
}

func unescapeName(s string) string {
	if !strings.Contains(s, "#") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// literal reads a (string) after its "(".
func (lx *lexer) literal(keep int) string {
	lx.buf = lx.buf[:0]
	add := func(c byte) {
		if len(lx.buf) < keep {
			lx.buf = append(lx.buf, c)
		}
	}
	depth := 1
	for {
		c, ok := lx.byte()
		if !ok {
			return string(lx.buf)
		}
		switch c {
		case '(':
			depth++
			add(c)
		case ')':
			if depth--; depth == 0 {
				return string(lx.buf)
			}
			add(c)
		case '\\':
			c, ok = lx.byte()
			if !ok {
				return string(lx.buf)
			}
			switch c {
			case 'n':
				add('\n')
			case 'r':
				add('\r')
			case 't':
				add('\t')
			case 'b':
				add('\b')
			case 'f':
				add('\f')
			case '\r':
				if n, _ := lx.r.Peek(1); len(n) == 1 && n[0] == '\n' {
					_, _ = lx.r.ReadByte()
				}
			case '\n':
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(c - '0')
				for range 2 {
					n, _ := lx.r.Peek(1)
					if len(n) == 0 || n[0] < '0' || n[0] > '7' {
						break
					}
					_, _ = lx.r.ReadByte()
					v = v*8 + int(n[0]-'0')
				}
				add(byte(v))
			default:
				add(c)
			}
		default:
			add(c)
		}
	}
}

// hex reads a <hex string> after its "<".
func (lx *lexer) hex(keep int) string {
	lx.buf = lx.buf[:0]
	var hi byte
	half := false
	for {
		c, ok := lx.byte()
		if !ok || c == '>' {
			break
		}
		v := unhex(c)
		if v < 0 {
			continue
		}
		if half {
			if len(lx.buf) < keep {
				lx.buf = append(lx.buf, hi<<4|byte(v))
			}
		} else {
			hi = byte(v)
		}
		half = !half
	}
	if half && len(lx.buf) < keep {
		lx.buf = append(lx.buf, hi<<4)
	}
	return string(lx.buf)
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// skipInlineImage skips an inline image's data, after its ID operator, to the EI that
// ends it: white space, "EI", then white space, a delimiter or the end.
func (lx *lexer) skipInlineImage() {
	_, _ = lx.byte()         // the single white-space character after ID
	var a, b byte = ' ', ' ' // the two bytes before the current one
	for {
		c, ok := lx.byte()
		if !ok {
			return
		}
		if isSpace(a) && b == 'E' && c == 'I' {
			if n, _ := lx.r.Peek(1); len(n) == 0 || isSpace(n[0]) || isDelim(n[0]) {
				return
			}
		}
		a, b = b, c
	}
}
