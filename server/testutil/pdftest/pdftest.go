// Package pdftest builds small, valid PDF files for tests: pages of text in a standard
// font, optionally with their content streams FlateDecode-compressed (so a file of a few
// kilobytes can hold tens of megabytes of text).
package pdftest

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
)

// Page is one page: Content is its raw content stream; Lines, when Content is empty, are
// shown one per text object in the font /F1 (Helvetica, WinAnsiEncoding).
type Page struct {
	Lines   []string
	Content []byte
	// Compress stores the content stream FlateDecode-compressed.
	Compress bool
}

// TextContent is a content stream showing each line in /F1.
func TextContent(lines ...string) []byte {
	var b bytes.Buffer
	for i, l := range lines {
		fmt.Fprintf(&b, "BT /F1 12 Tf 72 %d Td (%s) Tj ET\n", 720-12*(i%50), Escape(l))
	}
	return b.Bytes()
}

// Escape makes s a PDF literal string's body.
func Escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(s)
}

// Repeat is a content stream showing line n times: n*(len(line)) bytes of text in about
// n*(len(line)+40) bytes of stream.
func Repeat(line string, n int) []byte {
	one := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (%s) Tj ET\n", Escape(line))
	return bytes.Repeat([]byte(one), n)
}

// Build is a complete PDF with the pages, in order.
func Build(pages ...Page) []byte {
	var objs []string // objs[i] is object i+1's body (between "obj" and "endobj")
	add := func(body string) int {
		objs = append(objs, body)
		return len(objs)
	}
	catalog := add("") // filled in below
	tree := add("")
	font := add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	var kids []string
	for _, p := range pages {
		content := p.Content
		if content == nil {
			content = TextContent(p.Lines...)
		}
		c := add(Stream(content, p.Compress))
		page := add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", tree, font, c))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	objs[catalog-1] = fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", tree)
	objs[tree-1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))
	return Objects(objs...)
}

// Objects is a PDF of the given objects, numbered from 1, with object 1 the catalog and a
// correct cross-reference table. Build uses it; tests use it directly for files no
// well-behaved producer would write.
func Objects(objs ...string) []byte {
	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, body := range objs {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, body)
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return out.Bytes()
}

// Stream is a stream object's body with content, FlateDecode-compressed when compress.
func Stream(content []byte, compress bool) string {
	if !compress {
		return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
	}
	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	_, _ = w.Write(content)
	_ = w.Close()
	return fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.Bytes())
}
