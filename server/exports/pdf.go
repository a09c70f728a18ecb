package exports

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"

	"assistant/gen/db"
)

const (
	bodySize = 10.5
	lineH    = 5.2
	margin   = 18.0
	// maxIndent bounds how far nested blocks move right (8 levels).
	maxIndent = 48.0

	// A table cell is cut after this many characters, or when its lines would not fit on
	// one page, and ends with cutMark. Tables with more columns than maxTableColumns are
	// set as one line of text per row, " | " between cells: columns that narrow hold a
	// character or two per line.
	maxCellRunes    = 1000
	maxTableColumns = 8
	cutMark         = "… [cut]"

	// maxMarkdownRunes is the longest message rendered as Markdown: a little more than the
	// longest user message (32,000 characters), so that one of those holding a table
	// still renders as one. goldmark's parse cannot be stopped and is quadratic on some
	// inputs (nested quotes, link openers: 0.3 s at 32,000 characters, 2 s at 64,000,
	// here); a longer message, a model's reply, is plain text.
	maxMarkdownRunes = 40_000
)

var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

var (
	colorText    = rgb{25, 25, 25}
	colorMuted   = rgb{110, 110, 110}
	colorQuote   = rgb{90, 90, 90}
	colorUser    = rgb{30, 90, 170}
	colorModel   = rgb{20, 130, 90}
	colorFooter  = rgb{120, 120, 120}
	colorHeading = rgb{20, 20, 20}
)

// pdfWriter typesets one conversation.
type pdfWriter struct {
	ctx    context.Context
	f      *fpdf.Fpdf
	src    []byte
	pageW  float64
	pageH  float64
	indent float64
	color  rgb
	fonts  map[fontKey]bool // registered with the document
	err    error
}

// renderPDF writes the conversation as a PDF. It stops, with ctx's error, soon after ctx
// ends: the work stops, not only the wait for it.
func renderPDF(ctx context.Context, w io.Writer, conv db.Conversation, msgs []db.Message, now time.Time) error {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCompression(true)
	f.SetMargins(margin, margin, margin)
	f.SetCellMargin(0)
	// Page breaks are made here, line by line, so that a line never splits across pages.
	f.SetAutoPageBreak(false, margin)
	f.AliasNbPages("{nb}")
	pw, ph := f.GetPageSize()
	p := &pdfWriter{ctx: ctx, f: f, pageW: pw, pageH: ph, color: colorText, fonts: map[fontKey]bool{}}

	title := conversationTitle(conv)
	f.SetTitle(bmpOnly(title), true)
	f.SetCreator("assistant", true)
	footerTitle := strings.Join(strings.Fields(clip(title, 80)), " ")
	f.SetFooterFunc(func() {
		// One line, centred: a title too wide for it (CJK is twice as wide) is cut.
		st := textStyle{face: sansRegular, size: 8, color: colorFooter}
		var page, name line
		t := &typesetter{width: pw - 2*margin, emit: func(x line) { page = line{pieces: slices.Clone(x.pieces), w: x.w} }}
		t.add(fmt.Sprintf("\u00A0· page %d of {nb}", f.PageNo()), st)
		t.finish()
		for i := range page.pieces {
			// The page count replaces {nb} when the document is written: its digits must
			// come from the instance that sets digits.
			page.pieces[i].inst = instanceOf('0')
		}
		t = &typesetter{width: pw - 2*margin - page.w - 5, emit: func(x line) {
			if name.pieces == nil {
				name = line{pieces: slices.Clone(x.pieces), w: x.w}
			}
		}}
		t.add(footerTitle, st)
		t.finish()
		x := (pw - name.w - page.w) / 2
		p.draw(name, x, ph-12, 5)
		p.draw(page, x+name.w, ph-12, 5)
	})
	f.AddPage()

	p.text(title, textStyle{face: sansBold, size: 18, color: colorHeading}, 8)
	meta := textStyle{face: sansRegular, size: 9, color: colorMuted}
	p.text(fmt.Sprintf("Started %s · exported %s · %d messages", stamp(conv.CreatedAt), stamp(now), len(msgs)), meta, 5)
	if conv.SystemPrompt != nil && *conv.SystemPrompt != "" {
		p.text("System prompt: "+*conv.SystemPrompt, textStyle{face: sansItalic, size: 9, color: colorMuted}, 5)
	}
	f.Ln(4)

	for _, m := range msgs {
		if p.stopped() {
			break
		}
		p.message(m)
	}
	if p.err != nil {
		return p.err
	}
	if f.Err() {
		return f.Error()
	}
	return f.Output(w)
}

// stopped reports whether the render must stop (ctx ended, or the document failed).
func (p *pdfWriter) stopped() bool {
	if p.err == nil {
		if err := p.ctx.Err(); err != nil {
			p.err = err
		} else if p.f.Err() {
			p.err = p.f.Error()
		}
	}
	return p.err != nil
}

func (p *pdfWriter) left() float64  { return margin + p.indent }
func (p *pdfWriter) width() float64 { return p.pageW - margin - p.left() }

type fontKey struct {
	face *face
	inst uint8
}

// setFont selects an instance of a face, registering it with the document the first time:
// a document embeds only the fonts it uses (the CJK face is large).
func (p *pdfWriter) setFont(fc *face, inst uint8, size float64) {
	family := fc.family
	if inst != 0 {
		family += "-" + strconv.Itoa(int(inst))
	}
	if k := (fontKey{fc, inst}); !p.fonts[k] {
		// A copy: fpdf writes into the bytes it is given while it subsets the font, and
		// the embedded ones are shared by every export rendering at the same time.
		p.f.AddUTF8FontFromBytes(family, fc.style, bytes.Clone(fc.ttf))
		p.fonts[k] = true
	}
	p.f.SetFont(family, fc.style, size)
}

// draw sets one line at (x, y), a cell per run of pieces in the same face, size and colour.
func (p *pdfWriter) draw(l line, x, y, h float64) {
	for i := 0; i < len(l.pieces); {
		first := l.pieces[i]
		var b strings.Builder
		w := 0.0
		j := i
		for ; j < len(l.pieces); j++ {
			pc := l.pieces[j]
			if pc.face != first.face || pc.inst != first.inst || pc.size != first.size || pc.color != first.color {
				break
			}
			b.WriteString(pc.text)
			w += pc.w
		}
		p.setFont(first.face, first.inst, first.size)
		p.f.SetTextColor(int(first.color[0]), int(first.color[1]), int(first.color[2]))
		p.f.SetXY(x, y)
		p.f.CellFormat(w, h, b.String(), "", 0, "L", false, 0, "")
		x += w
		i = j
	}
}

// ensure starts a new page when a line of height h does not fit on this one.
func (p *pdfWriter) ensure(h float64) {
	if p.f.GetY()+h > p.pageH-margin {
		p.f.AddPage()
	}
}

// flow returns a typesetter whose lines are set one under the other from the current
// position; fill shades each line (code).
func (p *pdfWriter) flow(h float64, fill bool) *typesetter {
	x, w := p.left(), p.width()
	return &typesetter{width: w, stop: p.stopped, emit: func(l line) {
		if p.err != nil {
			return
		}
		p.ensure(h)
		y := p.f.GetY()
		if fill {
			p.f.SetFillColor(244, 244, 244)
			p.f.Rect(x, y, w, h, "F")
		}
		p.draw(l, x, y, h)
		p.f.SetXY(x, y+h)
	}}
}

// text sets a block of plain text (line breaks kept) and moves below it.
func (p *pdfWriter) text(s string, st textStyle, h float64) {
	t := p.flow(h, false)
	t.add(s, st)
	t.finish()
}

func (p *pdfWriter) message(m db.Message) {
	who, color := "You", colorUser
	if m.Role == db.MessageRoleAssistant {
		who, color = "Assistant", colorModel
		if m.Model != nil {
			who += " (" + *m.Model + ")"
		}
	}
	head := who + " · " + stamp(m.CreatedAt)
	if m.Status != db.MessageStatusComplete {
		head += " · " + string(m.Status)
	}
	p.text(head, textStyle{face: sansBold, size: 10, color: color}, 6)
	p.markdown(m.Content)
	if p.err != nil {
		return
	}
	y := p.f.GetY() + 2
	p.f.SetDrawColor(220, 220, 220)
	p.f.Line(margin, y, p.pageW-margin, y)
	p.f.Ln(5)
}

func (p *pdfWriter) markdown(content string) {
	if len(content) > 4*maxMarkdownRunes || utf8.RuneCountInString(content) > maxMarkdownRunes {
		// goldmark's parse is superlinear on some inputs (deep nesting, many link
		// openers), holds ~100 times the text in its tree and cannot be stopped: a long
		// reply is set as plain text, its line breaks kept.
		p.text(content, p.body(sansRegular), lineH)
		p.f.Ln(1.5)
		return
	}
	p.src = []byte(content)
	doc := markdown.Parser().Parse(text.NewReader(p.src))
	p.blocks(doc)
}

func (p *pdfWriter) blocks(n ast.Node) {
	for c := n.FirstChild(); c != nil && !p.stopped(); c = c.NextSibling() {
		p.block(c)
	}
}

func (p *pdfWriter) body(style *face) textStyle {
	return textStyle{face: style, size: bodySize, color: p.color}
}

func (p *pdfWriter) block(n ast.Node) {
	f := p.f
	switch n := n.(type) {
	case *ast.Heading:
		size := map[int]float64{1: 15, 2: 13.5, 3: 12}[n.Level]
		if size == 0 {
			size = 11
		}
		f.Ln(1)
		p.inlines(n, textStyle{face: sansBold, size: size, color: colorHeading}, size*0.5)
		f.Ln(size * 0.1)
	case *ast.Paragraph, *ast.TextBlock:
		p.inlines(n, p.body(sansRegular), lineH)
		f.Ln(1.5)
	case *ast.List:
		p.list(n)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		p.code(n)
	case *ast.Blockquote:
		p.indented(6, func() {
			old := p.color
			p.color = colorQuote
			p.blocks(n)
			p.color = old
		})
	case *ast.ThematicBreak:
		p.ensure(4)
		y := f.GetY() + 1
		f.SetDrawColor(180, 180, 180)
		f.Line(p.left(), y, p.pageW-margin, y)
		f.Ln(4)
	case *east.Table:
		p.table(n)
	case *ast.HTMLBlock:
		p.text(p.lines(n), p.body(sansRegular), lineH)
		f.Ln(1.5)
	default:
		p.blocks(n)
	}
}

// indented runs fn indented by more; nesting past maxIndent (deep quotes and lists)
// stops moving right, so that a line always keeps most of the page's width.
func (p *pdfWriter) indented(by float64, fn func()) {
	by = max(0, min(by, maxIndent-p.indent))
	p.indent += by
	p.f.SetX(p.left())
	fn()
	p.indent -= by
	p.f.SetX(p.left())
}

func (p *pdfWriter) list(l *ast.List) {
	i := l.Start
	if i == 0 {
		i = 1
	}
	p.indented(6, func() {
		for item := l.FirstChild(); item != nil && !p.stopped(); item = item.NextSibling() {
			marker := "•"
			if l.IsOrdered() {
				marker = fmt.Sprintf("%d.", i)
				i++
			}
			p.ensure(lineH)
			p.setFont(sansRegular, instanceOf('0'), bodySize) // digits, '.' and '•' are all in instance 0
			p.f.SetTextColor(int(p.color[0]), int(p.color[1]), int(p.color[2]))
			y := p.f.GetY()
			p.f.SetXY(p.left()-5, y)
			p.f.CellFormat(5, lineH, marker, "", 0, "L", false, 0, "")
			p.f.SetXY(p.left(), y)
			for c := item.FirstChild(); c != nil && !p.stopped(); c = c.NextSibling() {
				switch c := c.(type) {
				case *ast.TextBlock, *ast.Paragraph:
					p.inlines(c, p.body(sansRegular), lineH)
				default:
					p.block(c)
				}
			}
		}
	})
	p.f.Ln(1.5)
}

// lines is the raw text of a block (code, HTML).
func (p *pdfWriter) lines(n ast.Node) string {
	var b strings.Builder
	ls := n.Lines()
	for i := 0; i < ls.Len(); i++ {
		seg := ls.At(i)
		b.Write(seg.Value(p.src))
	}
	return strings.TrimRight(b.String(), "\n")
}

func (p *pdfWriter) code(n ast.Node) {
	t := p.flow(4.4, true)
	t.keepSpaces = true
	t.add(strings.ReplaceAll(p.lines(n), "\t", "    "), textStyle{face: monoRegular, size: 8.8, color: colorText})
	t.finish()
	p.f.Ln(2)
}

// inlines sets a block's inline content, wrapping at the margin, switching faces for
// emphasis, strong text and code spans.
func (p *pdfWriter) inlines(n ast.Node, base textStyle, h float64) {
	t := p.flow(h, false)
	var walk func(n ast.Node, st textStyle)
	walk = func(n ast.Node, st textStyle) {
		for c := n.FirstChild(); c != nil && !t.stopped; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				t.add(string(c.Value(p.src)), st)
				if c.SoftLineBreak() {
					t.add(" ", st)
				}
				if c.HardLineBreak() {
					t.add("\n", st)
				}
			case *ast.String:
				t.add(string(c.Value), st)
			case *ast.CodeSpan:
				code := textStyle{face: monoRegular, size: st.size * 0.92, color: st.color}
				for x := c.FirstChild(); x != nil; x = x.NextSibling() {
					if tx, ok := x.(*ast.Text); ok {
						t.add(string(tx.Value(p.src)), code)
					}
				}
			case *ast.Emphasis:
				s := st
				s.face = emphasis(st.face, c.Level >= 2)
				walk(c, s)
			case *ast.Link:
				walk(c, st)
				t.add(" ("+string(c.Destination)+")", st)
			case *ast.AutoLink:
				t.add(string(c.URL(p.src)), st)
			case *ast.Image:
				t.add("[image: ", st)
				walk(c, st)
				t.add("]", st)
			case *ast.RawHTML:
				segs := c.Segments
				for i := 0; i < segs.Len(); i++ {
					s := segs.At(i)
					t.add(string(s.Value(p.src)), st)
				}
			default:
				walk(c, st)
			}
		}
	}
	walk(n, base)
	t.finish()
}

// emphasis is the sans face with bold (strong) or italic added to cur.
func emphasis(cur *face, strong bool) *face {
	bold := cur == sansBold || cur == sansBoldItalic
	italic := cur == sansItalic || cur == sansBoldItalic
	if cur == monoRegular {
		return cur
	}
	if strong {
		bold = true
	} else {
		italic = true
	}
	switch {
	case bold && italic:
		return sansBoldItalic
	case bold:
		return sansBold
	case italic:
		return sansItalic
	}
	return sansRegular
}

// table lays the cells out in equal columns, wrapping each cell and giving every row the
// height of its tallest cell.
func (p *pdfWriter) table(t *east.Table) {
	var rows [][]string
	var header []bool
	for r := t.FirstChild(); r != nil; r = r.NextSibling() {
		var cells []string
		for c := r.FirstChild(); c != nil; c = c.NextSibling() {
			cells = append(cells, p.cellText(c))
		}
		rows = append(rows, cells)
		_, isHeader := r.(*east.TableHeader)
		header = append(header, isHeader)
	}
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	if cols == 0 {
		return
	}
	if cols > maxTableColumns {
		for i, r := range rows {
			st := p.body(sansRegular)
			if header[i] {
				st.face = sansBold
			}
			p.text(strings.Join(r, " | "), st, lineH)
			if p.stopped() {
				return
			}
		}
		p.f.Ln(3)
		return
	}
	const h = 4.8
	x0 := p.left()
	cw := p.width() / float64(cols)
	maxLines := int((p.pageH-2*margin)/h) - 2
	for i, r := range rows {
		if p.stopped() {
			return
		}
		st := textStyle{face: sansRegular, size: 9, color: colorText}
		if header[i] {
			st.face = sansBold
		}
		lines := 1
		wrapped := make([][]line, cols)
		for j := 0; j < cols; j++ {
			cell := ""
			if j < len(r) {
				cell = r[j]
			}
			wrapped[j] = p.cellLines(cell, st, cw-2, maxLines)
			lines = max(lines, len(wrapped[j]))
		}
		rh := float64(lines)*h + 1.5
		p.ensure(rh)
		y := p.f.GetY()
		for j := 0; j < cols; j++ {
			x := x0 + float64(j)*cw
			if header[i] {
				p.f.SetFillColor(238, 238, 238)
				p.f.Rect(x, y, cw, rh, "FD")
			} else {
				p.f.SetDrawColor(200, 200, 200)
				p.f.Rect(x, y, cw, rh, "D")
			}
			for k, l := range wrapped[j] {
				p.draw(l, x+1, y+0.75+float64(k)*h, h)
			}
		}
		p.f.SetXY(x0, y+rh)
	}
	p.f.Ln(3)
}

// cellLines wraps a cell's text into at most maxLines lines; a cell that does not fit
// ends with cutMark.
func (p *pdfWriter) cellLines(s string, st textStyle, w float64, maxLines int) []line {
	var out []line
	t := &typesetter{width: w, stop: p.stopped}
	t.emit = func(l line) {
		if len(out) <= maxLines {
			out = append(out, line{pieces: slices.Clone(l.pieces), w: l.w})
		} else {
			t.stopped = true
		}
	}
	t.add(s, st)
	t.finish()
	if len(out) > maxLines {
		out = out[:maxLines-1]
		mark := &typesetter{width: w, emit: func(l line) { out = append(out, line{pieces: slices.Clone(l.pieces), w: l.w}) }}
		mark.add(cutMark, st)
		mark.finish()
	}
	return out
}

// cellText is a cell's text, cut after maxCellRunes characters.
func (p *pdfWriter) cellText(n ast.Node) string {
	var b strings.Builder
	runes := 0
	add := func(s []byte) {
		for _, r := range string(s) {
			if runes >= maxCellRunes {
				if runes == maxCellRunes {
					b.WriteString(cutMark)
					runes++
				}
				return
			}
			b.WriteRune(r)
			runes++
		}
	}
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering || runes > maxCellRunes {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			add(c.Value(p.src))
		case *ast.String:
			add(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func conversationTitle(c db.Conversation) string {
	if strings.TrimSpace(c.Title) == "" {
		return "Untitled conversation"
	}
	return c.Title
}
