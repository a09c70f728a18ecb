package logging

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Access writes the access-log line, one per request, in exactly the format of the JSON
// logger (same keys, same order, the request attributes last). It is written directly
// instead of through slog because it is the hottest line there is: through the generic
// handler it costs a quarter of the in-process cost of a small request (see the README's
// Performance section).
type Access struct {
	w     io.Writer
	level slog.Leveler
	mu    sync.Mutex
	buf   []byte
}

// NewAccess writes to w (the logger's writer) when level admits INFO.
func NewAccess(w io.Writer, level slog.Leveler) *Access {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Access{w: w, level: level}
}

// Entry is one served request.
type Entry struct {
	Method, Route, Path string
	Status              int
	Duration            time.Duration
	Bytes               int64
	ClientIP            string
}

// Log writes the line for e, with the request id and user id found in ctx.
func (a *Access) Log(ctx context.Context, e Entry) {
	if a.level.Level() > slog.LevelInfo {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buf[:0]
	b = append(b, `{"time":"`...)
	b = time.Now().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = appendString(b, e.Method)
	b = append(b, `,"route":`...)
	b = appendString(b, e.Route)
	b = append(b, `,"path":`...)
	b = appendString(b, clipPath(e.Path))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.Duration.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"client_ip":`...)
	b = appendString(b, e.ClientIP)
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		b = append(b, `,"request_id":`...)
		b = appendString(b, f.requestID)
		if f.userID != "" {
			b = append(b, `,"user_id":`...)
			b = appendString(b, f.userID)
		}
		if f.traceID != "" {
			b = append(b, `,"trace_id":`...)
			b = appendString(b, f.traceID)
		}
	}
	b = append(b, "}\n"...)
	a.buf = b
	_, _ = a.w.Write(b)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as log/slog's JSON handler escapes it:
// quotes, backslashes and control characters, U+2028 and U+2029, and invalid UTF-8 as
// U+FFFD. Nothing in a value can end the line or the string early.
// maxLoggedPath bounds the path in an access line: a 414 can carry a path of 100 KiB.
const maxLoggedPath = 2048

// clipPath cuts a long path at a character boundary and says how long it was.
func clipPath(p string) string {
	if len(p) <= maxLoggedPath {
		return p
	}
	cut := maxLoggedPath
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	return p[:cut] + "…(" + strconv.Itoa(len(p)) + " bytes)"
}

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
