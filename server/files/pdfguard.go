package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/metrics"
	"strconv"
)

// Guards around github.com/ledongthuc/pdf for what its own code does not bound.
//
//   - It allocates its cross-reference table from numbers in the file: /Size, the /Index
//     of an xref stream, a classic table's subsection headers (a 300-byte file saying
//     "2000000000 1" ends the process: fatal error: runtime: out of memory), and a
//     FlateDecode predictor row from /Columns, a row buffer from /W. checkStructure
//     refuses such files before the library sees them.
//   - It follows /Prev chains without noticing a cycle, and reads through the io.ReaderAt
//     it is given: deadlineReaderAt ends every read after the deadline, which ends such a
//     loop (the read fails, the library panics, pdfText recovers).
//   - A ToUnicode map's counts ("N beginbfchar") make it append N entries whatever
//     follows, and a hex string left open at the end of a stream makes its lexer loop
//     forever: cmapOK refuses those maps (the font's bytes are then shown as they are).

const (
	// maxObjects bounds the cross-reference table (32 bytes an entry: 32 MiB).
	maxObjects = 1 << 20
	// maxXrefField bounds one /W field (the library reads at most 8 bytes of one).
	maxXrefField = 8
	// maxCmapCounts bounds the sum of the numbers in one ToUnicode map.
	maxCmapCounts = 1 << 18
)

var (
	errDeadline = errors.New("the time for reading the PDF is over")
	errHeap     = errors.New("reading the PDF takes too much memory")
)

// maxHeapGrowth is how much the process's heap may grow while a PDF is read before reads
// fail. The parser keeps any one object whole: an array of 50 million numbers, inflated
// from 100 KB of an object stream, would take gigabytes. The heap is the process's, so
// this is a circuit breaker, not an exact bound: a legitimate file takes a few MiB.
const maxHeapGrowth = 192 << 20

// deadlineReaderAt fails every read once ctx is done, or once the heap has grown by
// maxHeapGrowth since the reading began. The parser reads the file as it inflates and
// parses, so a failed read (it panics; pdfText recovers) ends what it was doing.
type deadlineReaderAt struct {
	ctx     context.Context
	ra      io.ReaderAt
	maxHeap uint64
	// overHeap is set once a read failed for memory (reads happen on one goroutine).
	overHeap bool
}

func newDeadlineReaderAt(ctx context.Context, ra io.ReaderAt) *deadlineReaderAt {
	return &deadlineReaderAt{ctx: ctx, ra: ra, maxHeap: heapBytes() + maxHeapGrowth}
}

func (d *deadlineReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if d.ctx.Err() != nil {
		return 0, errDeadline
	}
	if d.overHeap || heapBytes() > d.maxHeap {
		d.overHeap = true
		return 0, errHeap
	}
	return d.ra.ReadAt(p, off)
}

// heapBytes is the memory held by heap objects, reachable or not yet swept (cheap: no
// stop-the-world, unlike runtime.ReadMemStats).
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// cursor reads a file at any position through a small buffer.
type cursor struct {
	ra   io.ReaderAt
	size int64
	pos  int64
	buf  [512]byte
	at   int64 // file offset of buf[0]
	n    int
	work *int64 // bytes left to the whole check
}

func (c *cursor) seek(pos int64) { c.pos = pos }

// byte returns the next byte; ok is false at the end or when the work budget is spent.
func (c *cursor) byte() (byte, bool) {
	if c.pos < c.at || c.pos >= c.at+int64(c.n) {
		if c.pos >= c.size || *c.work <= 0 {
			return 0, false
		}
		n, _ := c.ra.ReadAt(c.buf[:], c.pos)
		if n <= 0 {
			return 0, false
		}
		*c.work -= int64(n)
		c.at, c.n = c.pos, n
	}
	b := c.buf[c.pos-c.at]
	c.pos++
	return b, true
}

func (c *cursor) peek() (byte, bool) {
	b, ok := c.byte()
	if ok {
		c.pos--
	}
	return b, ok
}

// token reads the next token the way the library does at this position: white space and
// comments skipped, then a delimiter, or a run of regular characters. Names come back
// with their #xx escapes decoded and their slash.
func (c *cursor) token() (string, bool) {
	var b byte
	var ok bool
	for {
		if b, ok = c.byte(); !ok {
			return "", false
		}
		if b == '%' {
			for b != '\r' && b != '\n' {
				if b, ok = c.byte(); !ok {
					return "", false
				}
			}
			continue
		}
		if !isSpace(b) {
			break
		}
	}
	if isDelim(b) && b != '/' {
		return string(b), true
	}
	out := []byte{b}
	for len(out) < 64 {
		n, ok := c.peek()
		if !ok || isSpace(n) || isDelim(n) {
			break
		}
		c.pos++
		if n == '#' && out[0] == '/' {
			h, _ := c.byte()
			l, _ := c.byte()
			if v := unhex(h)<<4 | unhex(l); v >= 0 {
				out = append(out, byte(v))
				continue
			}
			return "", false // the library refuses a malformed name
		}
		out = append(out, n)
	}
	return string(out), true
}

// integer parses a token the library would read as an integer.
func integer(tok string) (int64, bool) {
	s := tok
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(tok, 10, 64)
	if err != nil {
		return 0, false // the library fails on it too
	}
	return v, true
}

// checkStructure refuses a file whose cross-reference numbers would make the library
// allocate without bound. It looks at every position where the library could be sent (by
// an offset of the file's choosing): every name /Size, /Index, /W and /Columns and every
// "xref", whatever surrounds them.
func checkStructure(ra io.ReaderAt, size int64) error {
	work := 8*size + 1<<20
	c := &cursor{ra: ra, size: size, work: &work}
	chunk := make([]byte, 64<<10)
	for off := int64(0); off < size; off += int64(len(chunk)) - 8 {
		n, err := ra.ReadAt(chunk, off)
		if n <= 0 {
			if err != nil && err != io.EOF {
				return err
			}
			break
		}
		data := chunk[:n]
		for i := 0; i < len(data); i++ {
			var err error
			switch {
			case data[i] == '/':
				err = checkName(c, off+int64(i))
			case data[i] == 'x' && bytes.HasPrefix(data[i:], []byte("xref")):
				err = checkXrefTable(c, off+int64(i)+4)
			default:
				continue
			}
			if err != nil {
				return err
			}
			if work <= 0 {
				return fmt.Errorf("too complex")
			}
		}
		if int64(n) < int64(len(chunk)) {
			break
		}
	}
	return nil
}

func checkName(c *cursor, pos int64) error {
	c.seek(pos)
	name, ok := c.token()
	if !ok {
		return nil
	}
	switch name {
	case "/Size":
		if v, ok := integerAt(c); ok && v > maxObjects {
			return fmt.Errorf("/Size %d is over %d objects", v, maxObjects)
		}
	case "/Columns":
		if v, ok := integerAt(c); ok && v > maxColumns {
			return fmt.Errorf("/Columns %d is over %d", v, maxColumns)
		}
	case "/W", "/Index":
		if t, ok := c.token(); !ok || t != "[" {
			return nil
		}
		var nums []int64
		for len(nums) < 1<<16 {
			t, ok := c.token()
			if !ok || t == "]" {
				break
			}
			v, ok := integer(t)
			if !ok {
				return nil // not an array the library would use
			}
			nums = append(nums, v)
		}
		for i, v := range nums {
			switch {
			case name == "/W" && v > maxXrefField:
				return fmt.Errorf("/W field of %d bytes", v)
			case name == "/Index" && i%2 == 1 && nums[i-1]+v > maxObjects:
				return fmt.Errorf("/Index reaches object %d", nums[i-1]+v)
			}
		}
	}
	return nil
}

func integerAt(c *cursor) (int64, bool) {
	t, ok := c.token()
	if !ok {
		return 0, false
	}
	return integer(t)
}

// checkXrefTable checks the subsection headers of a classic cross-reference table.
func checkXrefTable(c *cursor, pos int64) error {
	c.seek(pos)
	for {
		t, ok := c.token()
		if !ok || t == "trailer" {
			return nil
		}
		start, ok1 := integer(t)
		n, ok2 := integerAt(c)
		if !ok1 || !ok2 {
			return nil // the library stops here too
		}
		if start+n > maxObjects || start > maxObjects {
			return fmt.Errorf("xref subsection reaches object %d", start+n)
		}
		for range n * 3 {
			if _, ok := c.token(); !ok {
				return nil
			}
		}
	}
}

// cmapOK reads a ToUnicode map (at most limit bytes) and reports whether the library can
// be given it: within the size, its numbers (the counts the library trusts) within
// maxCmapCounts, and no hex string open at the end. n is the bytes read.
func cmapOK(r io.Reader, limit int64) (n int64, ok bool) {
	var (
		buf    [4096]byte
		sum    int64
		num    int64
		inNum  bool
		state  byte // 0 normal, '%' comment, '(' literal, '<' hex
		depth  int
		escape bool
		last   byte = ' ' // the last byte that is not a hex digit or white space
	)
	lr := io.LimitReader(r, limit+1)
	for {
		k, err := lr.Read(buf[:])
		for _, b := range buf[:k] {
			if unhex(b) < 0 && !isSpace(b) {
				last = b
			}
			digit := b >= '0' && b <= '9'
			if state == 0 && digit {
				num = min(num*10+int64(b-'0'), maxCmapCounts+1)
				inNum = true
				continue
			}
			if inNum {
				sum += num
				num, inNum = 0, false
			}
			switch state {
			case 0:
				switch b {
				case '%':
					state = '%'
				case '(':
					state, depth = '(', 1
				case '<':
					state = '<'
				}
			case '%':
				if b == '\r' || b == '\n' {
					state = 0
				}
			case '(':
				switch {
				case escape:
					escape = false
				case b == '\\':
					escape = true
				case b == '(':
					depth++
				case b == ')':
					if depth--; depth == 0 {
						state = 0
					}
				}
			case '<':
				if b == '<' {
					state = 0 // "<<"
				} else if b == '>' {
					state = 0
				}
			}
		}
		n += int64(k)
		if err != nil {
			break
		}
	}
	if inNum {
		sum += num
	}
	return n, n <= limit && sum <= maxCmapCounts && last != '<'
}
