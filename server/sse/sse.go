// Package sse writes server-sent events: named events with ids, one JSON object per data
// line, a flush after each, and comment heartbeats so proxies keep the stream open.
package sse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Writer writes events to one response.
type Writer struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// Start sends the stream's headers. The server's write timeout is lifted for this response
// (a stream may rightly last longer), and buffering by nginx is turned off.
func Start(w http.ResponseWriter) *Writer {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.Flush()
	return &Writer{w: w, rc: rc}
}

// Event writes one event and flushes it.
func (s *Writer) Event(id, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var sb strings.Builder
	if id != "" {
		fmt.Fprintf(&sb, "id: %s\n", id)
	}
	fmt.Fprintf(&sb, "event: %s\ndata: %s\n\n", name, b)
	if _, err := s.w.Write([]byte(sb.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Ping writes a comment line, which clients ignore and proxies count as traffic.
func (s *Writer) Ping() error {
	if _, err := s.w.Write([]byte(": ping\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}
