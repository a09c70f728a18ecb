package exports

import (
	"context"
	"strings"
	"testing"
)

// The typesetter is linear: a table cell 8 times longer costs about 8 times more until
// the cell's cut (maxCellRunes) bounds it; a paragraph 8 times longer about 8 times more.
func benchmarkPDF(b *testing.B, content string) {
	b.ReportAllocs()
	for b.Loop() {
		pdfOf(b, context.Background(), "bench", content)
	}
}

func tableCell(n int) string {
	return "| a | b |\n|---|---|\n| " + strings.Repeat("word ", n/5) + " | x |\n"
}

func BenchmarkPDFTableCell4k(b *testing.B)  { benchmarkPDF(b, tableCell(4000)) }
func BenchmarkPDFTableCell32k(b *testing.B) { benchmarkPDF(b, tableCell(32000)) }
func BenchmarkPDFParagraph64k(b *testing.B) {
	benchmarkPDF(b, strings.Repeat("Lorem ipsum dolor sit amet, 你好世界. ", 64000/40))
}
func BenchmarkPDFParagraph512k(b *testing.B) {
	benchmarkPDF(b, strings.Repeat("Lorem ipsum dolor sit amet, 你好世界. ", 512000/40))
}
func BenchmarkPDFLatinOnly(b *testing.B) { benchmarkPDF(b, "Hello, world.") }
func BenchmarkPDFWithCJK(b *testing.B)   { benchmarkPDF(b, "Hello, 世界.") }
