package exports

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-fonts/dejavu/dejavusans"
	"github.com/go-fonts/dejavu/dejavusansbold"
	"github.com/go-fonts/dejavu/dejavusansboldoblique"
	"github.com/go-fonts/dejavu/dejavusansmono"
	"github.com/go-fonts/dejavu/dejavusansoblique"
	"github.com/go-pdf/fpdf"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"

	"assistant/gen/db"
)

// The PDF's fonts are DejaVu, embedded: Latin (with accents), Greek, Cyrillic, Armenian,
// Georgian, Hebrew and Arabic letters, and many symbols survive; scripts outside DejaVu
// (CJK, Indic) do not.
const (
	sans = "DejaVuSans"
	mono = "DejaVuSansMono"

	bodySize = 10.5
	lineH    = 5.2
)

var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

// pdfWriter typesets one conversation.
type pdfWriter struct {
	f      *fpdf.Fpdf
	src    []byte
	left   float64
	indent float64
	style  string // current inline style: "", "B", "I", "BI"
	isCode bool
}

func renderPDF(w io.Writer, conv db.Conversation, msgs []db.Message, now time.Time) error {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCompression(true)
	f.AddUTF8FontFromBytes(sans, "", dejavusans.TTF)
	f.AddUTF8FontFromBytes(sans, "B", dejavusansbold.TTF)
	f.AddUTF8FontFromBytes(sans, "I", dejavusansoblique.TTF)
	f.AddUTF8FontFromBytes(sans, "BI", dejavusansboldoblique.TTF)
	f.AddUTF8FontFromBytes(mono, "", dejavusansmono.TTF)
	f.SetMargins(18, 18, 18)
	f.SetAutoPageBreak(true, 18)
	f.AliasNbPages("{nb}")
	title := conversationTitle(conv)
	f.SetTitle(title, true)
	f.SetCreator("assistant", true)
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont(sans, "", 8)
		f.SetTextColor(120, 120, 120)
		f.CellFormat(0, 5, fmt.Sprintf("%s · page %d of {nb}", clip(title, 80), f.PageNo()), "", 0, "C", false, 0, "")
	})
	f.AddPage()
	left, _, _, _ := f.GetMargins()
	p := &pdfWriter{f: f, left: left}

	f.SetFont(sans, "B", 18)
	f.SetTextColor(20, 20, 20)
	f.MultiCell(0, 8, title, "", "L", false)
	f.SetFont(sans, "", 9)
	f.SetTextColor(110, 110, 110)
	f.MultiCell(0, 5, fmt.Sprintf("Started %s · exported %s · %d messages",
		stamp(conv.CreatedAt), stamp(now), len(msgs)), "", "L", false)
	if conv.SystemPrompt != nil && *conv.SystemPrompt != "" {
		f.SetFont(sans, "I", 9)
		f.MultiCell(0, 5, "System prompt: "+*conv.SystemPrompt, "", "L", false)
	}
	f.Ln(4)

	for _, m := range msgs {
		p.message(m)
		if f.Err() {
			return f.Error()
		}
	}
	return f.Output(w)
}

func (p *pdfWriter) message(m db.Message) {
	f := p.f
	who := "You"
	r, g, b := 30, 90, 170
	if m.Role == "assistant" {
		who = "Assistant"
		if m.Model != nil {
			who += " (" + *m.Model + ")"
		}
		r, g, b = 20, 130, 90
	}
	head := who + " · " + stamp(m.CreatedAt)
	if m.Status != "complete" {
		head += " · " + m.Status
	}
	f.SetFont(sans, "B", 10)
	f.SetTextColor(r, g, b)
	f.MultiCell(0, 6, head, "", "L", false)
	f.SetTextColor(25, 25, 25)
	f.SetFont(sans, "", bodySize)
	p.markdown(m.Content)
	y := f.GetY() + 2
	f.SetDrawColor(220, 220, 220)
	pw, _ := f.GetPageSize()
	f.Line(p.left, y, pw-p.left, y)
	f.Ln(5)
}

func (p *pdfWriter) markdown(content string) {
	p.src = []byte(content)
	doc := markdown.Parser().Parse(text.NewReader(p.src))
	p.blocks(doc)
}

func (p *pdfWriter) blocks(n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		p.block(c)
	}
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
		f.SetFont(sans, "B", size)
		p.inlines(n, "B", size*0.5)
		f.Ln(size * 0.6)
		f.SetFont(sans, "", bodySize)
	case *ast.Paragraph, *ast.TextBlock:
		p.inlines(n, "", lineH)
		f.Ln(lineH + 1.5)
	case *ast.List:
		p.list(n)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		p.code(n)
	case *ast.Blockquote:
		p.indented(6, func() {
			f.SetTextColor(90, 90, 90)
			p.blocks(n)
			f.SetTextColor(25, 25, 25)
		})
	case *ast.ThematicBreak:
		y := f.GetY() + 1
		pw, _ := f.GetPageSize()
		f.SetDrawColor(180, 180, 180)
		f.Line(p.left+p.indent, y, pw-p.left, y)
		f.Ln(4)
	case *east.Table:
		p.table(n)
	case *ast.HTMLBlock:
		p.plain(p.lines(n), "", lineH)
	default:
		p.blocks(n)
	}
}

func (p *pdfWriter) indented(by float64, fn func()) {
	p.indent += by
	p.f.SetLeftMargin(p.left + p.indent)
	p.f.SetX(p.left + p.indent)
	fn()
	p.indent -= by
	p.f.SetLeftMargin(p.left + p.indent)
	p.f.SetX(p.left + p.indent)
}

func (p *pdfWriter) list(l *ast.List) {
	f := p.f
	i := l.Start
	if i == 0 {
		i = 1
	}
	p.indented(6, func() {
		for item := l.FirstChild(); item != nil; item = item.NextSibling() {
			marker := "•"
			if l.IsOrdered() {
				marker = fmt.Sprintf("%d.", i)
				i++
			}
			f.SetFont(sans, "", bodySize)
			f.SetX(p.left + p.indent - 5)
			f.CellFormat(5, lineH, marker, "", 0, "L", false, 0, "")
			f.SetX(p.left + p.indent)
			for c := item.FirstChild(); c != nil; c = c.NextSibling() {
				switch c := c.(type) {
				case *ast.TextBlock, *ast.Paragraph:
					p.inlines(c, "", lineH)
					f.Ln(lineH)
				default:
					p.block(c)
				}
			}
		}
	})
	f.Ln(1.5)
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
	f := p.f
	f.SetFont(mono, "", 8.8)
	f.SetFillColor(244, 244, 244)
	body := strings.ReplaceAll(p.lines(n), "\t", "    ")
	f.MultiCell(0, 4.4, body, "", "L", true)
	f.SetFont(sans, "", bodySize)
	f.Ln(2)
}

// inlines writes a block's inline content, wrapping at the margin, switching fonts for
// emphasis, strong text and code spans.
func (p *pdfWriter) inlines(n ast.Node, base string, h float64) {
	p.style = base
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				p.write(string(c.Value(p.src)), h)
				if c.SoftLineBreak() {
					p.write(" ", h)
				}
				if c.HardLineBreak() {
					p.f.Ln(h)
				}
			case *ast.String:
				p.write(string(c.Value), h)
			case *ast.CodeSpan:
				p.isCode = true
				var b strings.Builder
				for t := c.FirstChild(); t != nil; t = t.NextSibling() {
					if tx, ok := t.(*ast.Text); ok {
						b.Write(tx.Value(p.src))
					}
				}
				p.write(b.String(), h)
				p.isCode = false
			case *ast.Emphasis:
				old := p.style
				if c.Level >= 2 {
					p.style = addStyle(p.style, "B")
				} else {
					p.style = addStyle(p.style, "I")
				}
				walk(c)
				p.style = old
			case *ast.Link:
				walk(c)
				p.write(" ("+string(c.Destination)+")", h)
			case *ast.AutoLink:
				p.write(string(c.URL(p.src)), h)
			case *ast.Image:
				p.write("[image: ", h)
				walk(c)
				p.write("]", h)
			case *ast.RawHTML:
				segs := c.Segments
				for i := 0; i < segs.Len(); i++ {
					s := segs.At(i)
					p.write(string(s.Value(p.src)), h)
				}
			default:
				walk(c)
			}
		}
	}
	walk(n)
}

func addStyle(cur, s string) string {
	if strings.Contains(cur, s) {
		return cur
	}
	if cur == "I" && s == "B" || cur == "B" && s == "I" {
		return "BI"
	}
	return cur + s
}

func (p *pdfWriter) write(s string, h float64) {
	if s == "" {
		return
	}
	size, _ := p.f.GetFontSize()
	if p.isCode {
		p.f.SetFont(mono, "", size*0.92)
	} else {
		p.f.SetFont(sans, p.style, size)
	}
	p.f.Write(h, s)
	if p.isCode {
		p.f.SetFont(sans, p.style, size)
	}
}

func (p *pdfWriter) plain(s, style string, h float64) {
	p.f.SetFont(sans, style, bodySize)
	p.f.Write(h, s)
	p.f.Ln(h + 1.5)
}

// table lays the cells out in equal columns, wrapping each cell and giving every row the
// height of its tallest cell.
func (p *pdfWriter) table(t *east.Table) {
	f := p.f
	pw, ph := f.GetPageSize()
	_, _, right, bottom := f.GetMargins()
	x0 := p.left + p.indent
	width := pw - right - x0
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
	cw := width / float64(cols)
	const h = 4.8
	for i, r := range rows {
		style := ""
		if header[i] {
			style = "B"
		}
		f.SetFont(sans, style, 9)
		lines := 1
		wrapped := make([][]string, cols)
		for j := 0; j < cols; j++ {
			cell := ""
			if j < len(r) {
				cell = r[j]
			}
			wrapped[j] = wrap(f, cell, cw-2)
			lines = max(lines, len(wrapped[j]))
		}
		rh := float64(lines)*h + 1.5
		if f.GetY()+rh > ph-bottom {
			f.AddPage()
		}
		y := f.GetY()
		for j := 0; j < cols; j++ {
			x := x0 + float64(j)*cw
			if header[i] {
				f.SetFillColor(238, 238, 238)
				f.Rect(x, y, cw, rh, "FD")
			} else {
				f.SetDrawColor(200, 200, 200)
				f.Rect(x, y, cw, rh, "D")
			}
			for k, l := range wrapped[j] {
				f.SetXY(x+1, y+0.75+float64(k)*h)
				f.CellFormat(cw-2, h, l, "", 0, "L", false, 0, "")
			}
		}
		f.SetXY(x0, y+rh)
	}
	f.SetFont(sans, "", bodySize)
	f.Ln(3)
}

func (p *pdfWriter) cellText(n ast.Node) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(p.src))
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// wrap splits text into lines no wider than w in the current font (word by word; a word
// wider than a line is cut by characters).
func wrap(f *fpdf.Fpdf, s string, w float64) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		try := word
		if cur != "" {
			try = cur + " " + word
		}
		if f.GetStringWidth(try) <= w {
			cur = try
			continue
		}
		if cur != "" {
			lines = append(lines, cur)
		}
		cur = ""
		for f.GetStringWidth(word) > w {
			r := []rune(word)
			k := len(r)
			for k > 1 && f.GetStringWidth(string(r[:k])) > w {
				k--
			}
			lines = append(lines, string(r[:k]))
			word = string(r[k:])
		}
		cur = word
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
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
