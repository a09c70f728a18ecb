package imports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// stream reads an export file byte by byte and cuts it into its top-level values (one
// conversation each) without decoding them: a conversation is held in memory only up to
// MaxConversationBytes, and a larger one is read through and dropped. It checks only what
// it needs to find a value's end (strings, and brackets that match, at most MaxDepth deep);
// encoding/json checks the rest of each value it keeps.
type stream struct {
	r     *bufio.Reader
	off   int64 // bytes consumed so far: the offset of the next byte
	stack []byte
	// containers counts the objects and arrays of the last value read: what decoding it
	// will allocate grows with them, not with its bytes.
	containers int
}

func newStream(r io.Reader) *stream {
	return &stream{r: bufio.NewReaderSize(r, 64<<10), stack: make([]byte, 0, MaxDepth)}
}

// syntaxError is a file that is not JSON, or not JSON this importer reads, at an offset.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// errEnd is the end of the file where a value was still expected.
var errEnd = errors.New("the file ends in the middle of its JSON (is it complete?)")

func (s *stream) byte() (byte, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, err
	}
	s.off++
	return c, nil
}

// inside reads a byte that must exist: the end of the file here is a syntax error.
func (s *stream) inside() (byte, error) {
	c, err := s.byte()
	if err == io.EOF {
		return 0, &syntaxError{off: s.off, msg: errEnd.Error()}
	}
	return c, err
}

func space(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// next is the next byte that is not white space; io.EOF at the end of the file. A UTF-8
// byte order mark at the very start is skipped.
func (s *stream) next() (byte, error) {
	for {
		c, err := s.byte()
		if err != nil {
			return 0, err
		}
		if s.off == 1 && c == 0xEF {
			if b, err := s.r.Peek(2); err == nil && b[0] == 0xBB && b[1] == 0xBF {
				_, _ = s.r.Discard(2)
				s.off += 2
				continue
			}
		}
		if !space(c) {
			return c, nil
		}
	}
}

// value reads the rest of the value whose first byte c has been read, appending it to buf
// while it fits max bytes; over reports that it did not (buf then holds a prefix only).
func (s *stream) value(c byte, buf []byte, max int) (data []byte, over bool, err error) {
	add := func(c byte) {
		if over {
			return
		}
		if len(buf) >= max {
			over = true
			return
		}
		buf = append(buf, c)
	}
	s.containers = 0
	add(c)
	switch c {
	case '"':
		return buf, over, s.str(add)
	case '[', '{':
	default:
		// A scalar ends at a delimiter, which is put back.
		for {
			c, err := s.byte()
			if err == io.EOF {
				return buf, over, nil
			}
			if err != nil {
				return buf, over, err
			}
			if space(c) || c == ',' || c == ']' || c == '}' {
				_ = s.r.UnreadByte()
				s.off--
				return buf, over, nil
			}
			add(c)
		}
	}
	s.stack = append(s.stack[:0], closer(c))
	s.containers = 1
	for len(s.stack) > 0 {
		c, err := s.inside()
		if err != nil {
			return buf, over, err
		}
		add(c)
		switch c {
		case '"':
			if err := s.str(add); err != nil {
				return buf, over, err
			}
		case '[', '{':
			if len(s.stack) >= MaxDepth {
				return buf, over, &syntaxError{off: s.off - 1, msg: fmt.Sprintf("the JSON is nested more than %d levels deep", MaxDepth)}
			}
			s.stack = append(s.stack, closer(c))
			s.containers++
		case ']', '}':
			if s.stack[len(s.stack)-1] != c {
				return buf, over, &syntaxError{off: s.off - 1, msg: fmt.Sprintf("unexpected %q", c)}
			}
			s.stack = s.stack[:len(s.stack)-1]
		}
	}
	return buf, over, nil
}

// str reads the rest of a string whose opening quote has been read.
func (s *stream) str(add func(byte)) error {
	for {
		c, err := s.inside()
		if err != nil {
			return err
		}
		add(c)
		switch c {
		case '\\':
			c, err := s.inside()
			if err != nil {
				return err
			}
			add(c)
		case '"':
			return nil
		}
	}
}

func closer(open byte) byte {
	if open == '[' {
		return ']'
	}
	return '}'
}
