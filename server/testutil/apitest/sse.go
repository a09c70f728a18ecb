package apitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"assistant/server/validation"
)

func init() {
	// Event streams are validated as text (their schema is a string).
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
}

// eventSchemas names the schema of each event's data, by event name; the message event's
// depends on the operation (messageEventSchemas).
var eventSchemas = map[string]string{"delta": "DeltaEvent", "done": "DoneEvent", "error": "ErrorEvent"}

// messageEventSchemas is the schema of the message event of each stream operation that
// sends one; the others (re-attaching) send MessageEvent.
var messageEventSchemas = map[string]string{"regenerateMessageStream": "RegenerateEvent"}

// checkEvents validates the data of every complete event of a stream's body against its
// schema in the spec: an event the spec does not describe, or a payload that breaks its
// schema, fails the test.
func (e *Env) checkEvents(req *http.Request, operationID string, body []byte) {
	e.t.Helper()
	// Only complete events: a stream cut off by the client may end inside one.
	if i := bytes.LastIndex(body, []byte("\n\n")); i >= 0 {
		body = body[:i+2]
	} else {
		return
	}
	s := &Stream{r: bufio.NewReader(bytes.NewReader(body))}
	for {
		ev, err := s.Next()
		if err != nil {
			return
		}
		name, ok := eventSchemas[ev.Name]
		if ev.Name == "message" {
			name, ok = messageEventSchemas[operationID], true
			if name == "" {
				name = "MessageEvent"
			}
		}
		if !ok {
			e.t.Errorf("%s %s: event %q is not one the spec describes\n%s", req.Method, req.URL.Path, ev.Name, ev.Data)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
			e.t.Errorf("%s %s: event %s data is not JSON: %v\n%s", req.Method, req.URL.Path, ev.Name, err, ev.Data)
			continue
		}
		schema := e.spec.Components.Schemas[name]
		if schema == nil {
			e.t.Errorf("the spec has no schema %s for event %s", name, ev.Name)
			continue
		}
		if err := schema.Value.VisitJSON(v, validation.SchemaOptions()...); err != nil {
			e.t.Errorf("%s %s: event %s breaks %s: %v\n%s", req.Method, req.URL.Path, ev.Name, name, err, ev.Data)
		}
	}
}

// Event is one server-sent event.
type Event struct {
	ID   string
	Name string
	Data string
}

// Decode unmarshals the event's data.
func (e Event) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(e.Data), v); err != nil {
		t.Fatalf("event %s data is not JSON: %v\n%s", e.Name, err, e.Data)
	}
}

// Stream is an open event stream, read event by event.
type Stream struct {
	env    *Env
	req    *http.Request
	Resp   *http.Response
	raw    bytes.Buffer
	r      *bufio.Reader
	cancel context.CancelFunc
	// Pings counts the ": ping" comments seen.
	Pings int
}

// OpenStream sends req and returns the stream once the headers arrived (status 200 and
// text/event-stream required). Close, or the test's end, disconnects.
func (e *Env) OpenStream(req *http.Request) *Stream {
	e.t.Helper()
	ctx, cancel := context.WithCancel(req.Context())
	req = req.WithContext(ctx)
	resp, err := e.Client.Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("open stream: %v", err)
	}
	s := &Stream{env: e, req: req, Resp: resp, cancel: cancel}
	s.r = bufio.NewReader(io.TeeReader(resp.Body, &s.raw))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(s.r)
		cancel()
		resp.Body.Close()
		e.Check(req, &Response{Response: resp, Body: body})
		e.t.Fatalf("stream answered %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	e.t.Cleanup(s.Close)
	return s
}

// Next reads the next event; io.EOF when the stream ended.
func (s *Stream) Next() (Event, error) {
	var ev Event
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.Name == "" && len(data) == 0 && ev.ID == "" {
				continue
			}
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		case strings.HasPrefix(line, ":"):
			s.Pings++
		case strings.HasPrefix(line, "id: "):
			ev.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// MustNext is Next that fails the test at the end of the stream.
func (s *Stream) MustNext(t testing.TB) Event {
	t.Helper()
	ev, err := s.Next()
	if err != nil {
		t.Fatalf("stream: %v (read so far:\n%s)", err, s.raw.String())
	}
	return ev
}

// Rest reads events until the stream ends.
func (s *Stream) Rest(t testing.TB) []Event {
	t.Helper()
	var out []Event
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, ev)
	}
}

// Close disconnects (like a client going away) and checks what was read against the spec.
func (s *Stream) Close() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	s.Resp.Body.Close()
	s.env.Check(s.req, &Response{Response: s.Resp, Body: s.raw.Bytes()})
}
