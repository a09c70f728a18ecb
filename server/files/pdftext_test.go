package files

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"assistant/server/testutil/pdftest"
)

func readPDF(t *testing.T, b []byte, lim TextLimits) textResult {
	t.Helper()
	lim = lim.withDefaults()
	ctx, cancel := context.WithTimeout(t.Context(), lim.Timeout)
	defer cancel()
	start := time.Now()
	res := pdfText(ctx, bytes.NewReader(b), int64(len(b)), lim)
	if d := time.Since(start); d > lim.Timeout+5*time.Second {
		t.Errorf("took %v with a limit of %v", d, lim.Timeout)
	}
	return res
}

// A page with a ToUnicode font and a few text operators: font names, hex and escaped
// strings, TJ with a word gap, ' and T* line breaks, an inline image skipped.
func onePage(content string, fontExtra ...string) []byte {
	font := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R /F#322 5 0 R >> >> /Contents 6 0 R >>",
		font,
		font,
		pdftest.Stream([]byte(content), true),
	}
	if len(fontExtra) > 0 {
		objs[4] = fontExtra[0]
		objs = append(objs, fontExtra[1:]...)
	}
	return pdftest.Objects(objs...)
}

func TestPDFTextOperators(t *testing.T) {
	t.Parallel()
	content := "BT /F1 12 Tf 72 700 Td (Hello \\(world\\)) Tj T* <486578> Tj ET\n" +
		"BI /W 4 /H 1 /BPC 8 /CS /G ID \x00(\xff) EI Q\n" +
		"BT /F2 12 Tf [(Two) -300 (words)] TJ (next line) ' ET\n"
	res := readPDF(t, onePage(content), TextLimits{})
	want := "Hello (world)\nHex\nTwo words\nnext line"
	if diff := cmp.Diff(textResult{Text: want}, res); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestPDFLimits(t *testing.T) {
	t.Parallel()
	var pages []pdftest.Page
	for i := range 5 {
		pages = append(pages, pdftest.Page{Lines: []string{fmt.Sprintf("page %d", i+1), strings.Repeat("x", 50)}})
	}
	doc := pdftest.Build(pages...)

	res := readPDF(t, doc, TextLimits{MaxPages: 2})
	if !strings.HasPrefix(res.Text, "page 1") || !strings.Contains(res.Text, "page 2") || strings.Contains(res.Text, "page 3") ||
		res.Truncated != "the text of the first 2 pages of 5 (the page limit)" {
		t.Errorf("page limit: %+v", res)
	}
	res = readPDF(t, doc, TextLimits{MaxBytes: 70})
	if len(res.Text) > 70 || !strings.HasPrefix(res.Text, "page 1") || res.Truncated != "the first 70 bytes of the text, up to page 2 of 5" {
		t.Errorf("byte limit: %+v (%d bytes)", res, len(res.Text))
	}
	// A multi-byte character is never cut in two.
	res = readPDF(t, onePage("BT /F1 12 Tf (\xe9\xe9\xe9) Tj ET"), TextLimits{MaxBytes: 5})
	if res.Text != "éé" || res.Truncated == "" {
		t.Errorf("character boundary: %+v", res)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res = pdfText(ctx, bytes.NewReader(doc), int64(len(doc)), TextLimits{Timeout: time.Second}.withDefaults())
	if res.Err != "reading the PDF took longer than 1s" {
		t.Errorf("time limit: %+v", res)
	}
	res = readPDF(t, doc, TextLimits{MaxStreamBytes: 100})
	if !strings.HasPrefix(res.Text, "page 1") || !strings.HasPrefix(res.Truncated, "the text of the first 0 MiB of page content") {
		t.Errorf("content limit: %+v", res)
	}
}

// Content streams are read as streams: one huge string, or a flood of operands, costs
// neither their size in memory nor more than the limits in text.
func TestPDFHugeOperands(t *testing.T) {
	t.Parallel()
	huge := "BT /F1 12 Tf (" + strings.Repeat("A", 8<<20) + ") Tj ET"
	res := readPDF(t, onePage(huge), TextLimits{})
	if len(res.Text) != maxOperandBytes || res.Truncated != "" {
		t.Errorf("huge string: %d bytes, %q", len(res.Text), res.Truncated)
	}
	flood := strings.Repeat("1 ", 4<<20) + "BT /F1 12 Tf (after) Tj ET"
	res = readPDF(t, onePage(flood), TextLimits{})
	if res.Text != "after" {
		t.Errorf("operand flood: %+v", res)
	}
	array := "BT /F1 12 Tf [" + strings.Repeat("(ab) ", 1<<20) + "] TJ ET"
	res = readPDF(t, onePage(array), TextLimits{})
	if len(res.Text) != 2*maxOperands {
		t.Errorf("huge array: %d bytes", len(res.Text))
	}
}

// Files made to exhaust the parser: each is refused or read within the limits, and none
// takes the process down or hangs it.
func TestPDFHostileStructure(t *testing.T) {
	t.Parallel()
	text := pdftest.Stream([]byte("BT /F1 12 Tf (kept) Tj ET"), false)
	font := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
	cases := map[string]struct {
		pdf  []byte
		want textResult
	}{
		// 2 000 000 000 cross-reference entries: the library would allocate 64 GB.
		"xref subsection": {xrefBomb("2000000000 1", "3"), textResult{Err: "malformed PDF"}},
		"trailer size":    {xrefBomb("5 1", "2000000000"), textResult{Err: "malformed PDF"}},
		"escaped name":    {bytes.Replace(xrefBomb("5 1", "2000000000"), []byte("/Size"), []byte("/S#69ze"), 1), textResult{Err: "malformed PDF"}},
		"index and w": {pdftest.Objects("<< /Type /Catalog >>",
			"<< /Type /XRef /Size 3 /Index [0 1 1999999999 1] /W [1 2 1] /Length 0 >>\nstream\n\nendstream"), textResult{Err: "malformed PDF"}},
		"predictor row": {pdftest.Objects("<< /Type /Catalog >>",
			"<< /DecodeParms << /Predictor 12 /Columns 1099511627776 >> >>"), textResult{Err: "malformed PDF"}},
		// The page tree leads back to itself; a page's Parent to itself.
		"page tree cycle": {pdftest.Objects("<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 5 >>",
			"<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>", text), textResult{Text: "kept"}},
		// A ToUnicode map that says it has a billion entries, then one left open.
		"cmap counts": {onePage("BT /F2 12 Tf (kept) Tj ET", "<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /ToUnicode 7 0 R >>",
			pdftest.Stream([]byte("/CIDInit /ProcSet findresource begin 1 begincmap 1 begincodespacerange <00> <FF> endcodespacerange 999999999 beginbfchar endbfchar endcmap"), true)),
			textResult{Text: "kept"}},
		"cmap open hex": {onePage("BT /F2 12 Tf (kept) Tj ET", "<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /ToUnicode 7 0 R >>",
			pdftest.Stream([]byte("1 begincodespacerange <00> <FF> endcodespacerange <00"), true)),
			textResult{Text: "kept"}},
		"font": {onePage("BT /F2 12 Tf (kept) Tj ET", font), textResult{Text: "kept"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := readPDF(t, c.pdf, TextLimits{Timeout: 2 * time.Second})
			if diff := cmp.Diff(c.want, res); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A /Prev chain that leads back to itself: the library loops, reading; the reads fail
// at the deadline, which ends it.
func TestPDFPrevCycle(t *testing.T) {
	t.Parallel()
	doc := pdftest.Build(pdftest.Page{Lines: []string{"x"}})
	i := bytes.LastIndex(doc, []byte("startxref\n"))
	var xref int
	fmt.Sscanf(string(doc[i+len("startxref\n"):]), "%d", &xref)
	doc = bytes.Replace(doc, []byte("/Root 1 0 R >>"), fmt.Appendf(nil, "/Root 1 0 R /Prev %d >>", xref), 1)
	res := readPDF(t, doc, TextLimits{Timeout: 500 * time.Millisecond})
	if res.Err != "reading the PDF took longer than 500ms" {
		t.Errorf("got %+v", res)
	}
}

// xrefBomb is a one-page PDF whose table has one more subsection header and whose trailer
// says size.
func xrefBomb(header, size string) []byte {
	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n")
	o1 := out.Len()
	out.WriteString("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	o2 := out.Len()
	out.WriteString("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
	x := out.Len()
	fmt.Fprintf(&out, "xref\n0 3\n0000000000 65535 f \n%010d 00000 n \n%010d 00000 n \n%s\n0000000000 00000 n \n", o1, o2, header)
	fmt.Fprintf(&out, "trailer\n<< /Size %s /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", size, x)
	return out.Bytes()
}

// The bomb of package bombtest (a 200 KB PDF whose page shows 32 MiB of text), read to
// the 1 MiB limit.
func BenchmarkPDFBomb(b *testing.B) {
	line := "All work and no play makes Jack a dull boy. "
	doc := pdftest.Build(pdftest.Page{Content: pdftest.Repeat(line, (32<<20)/len(line)), Compress: true})
	lim := TextLimits{}.withDefaults()
	b.ReportAllocs()
	for b.Loop() {
		res := pdfText(b.Context(), bytes.NewReader(doc), int64(len(doc)), lim)
		if len(res.Text) != lim.MaxBytes {
			b.Fatalf("%d bytes", len(res.Text))
		}
	}
}

// objStmWith is a PDF whose page's content is object 5, kept in an object stream whose
// text is body, with a cross-reference stream (the form that reaches object streams).
func objStmWith(body string) []byte {
	var out bytes.Buffer
	out.WriteString("%PDF-1.5\n")
	offsets := make([]int, 7)
	obj := func(n int, s string) {
		offsets[n] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", n, s)
	}
	obj(1, "<< /Type /Catalog /Pages 2 0 R >>")
	obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj(3, "<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>")
	head := "5 0 "
	obj(4, fmt.Sprintf("<< /Type /ObjStm /N 1 /First %d /Length %d >>\nstream\n%s%s\nendstream", len(head), len(head)+len(body), head, body))
	offsets[6] = out.Len()
	var xref bytes.Buffer
	entry := func(typ byte, field2 int, field3 int) {
		xref.WriteByte(typ)
		xref.Write([]byte{byte(field2 >> 24), byte(field2 >> 16), byte(field2 >> 8), byte(field2)})
		xref.Write([]byte{byte(field3 >> 8), byte(field3)})
	}
	entry(0, 0, 65535)
	for n := 1; n <= 4; n++ {
		entry(1, offsets[n], 0)
	}
	entry(2, 4, 0) // object 5: the first in object stream 4
	entry(1, offsets[6], 0)
	fmt.Fprintf(&out, "6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n%s\nendstream\nendobj\n", xref.Len(), xref.Bytes())
	fmt.Fprintf(&out, "startxref\n%d\n%%%%EOF\n", offsets[6])
	return out.Bytes()
}

// A hex string left open at the end of an object stream made the parser read '\n' from
// the end of its input forever, beyond any deadline (the vendored copy in third_party
// fixes it): the file is malformed, and reading it ends.
func TestPDFOpenHexStringAtTheEndOfAnObjectStream(t *testing.T) {
	t.Parallel()
	got := make(chan textResult, 1)
	go func() { got <- readPDF(t, objStmWith("<41"), TextLimits{Timeout: 2 * time.Second}) }()
	select {
	case res := <-got:
		if res.Err == "" {
			t.Errorf("got %+v, want an unreadable file", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("reading the PDF never ended")
	}
}
