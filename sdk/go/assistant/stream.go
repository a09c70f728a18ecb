package assistant

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	openapi_types "github.com/oapi-codegen/runtime/types"
)

// Event is one event of a reply's stream; exactly one of its payloads is set, as Type says.
type Event struct {
	// ID is the event's id: the bytes of reply text sent so far (0 for `message`).
	ID   int64
	Type string // "message", "delta", "done" or "error"
	// Message is the `message` event of StreamReply: the stored user message.
	Message *MessageEvent
	// Regenerate is the `message` event of StreamRegenerate.
	Regenerate *RegenerateEvent
	Delta      *DeltaEvent
	// Done is the reply as stored: complete, or cancelled.
	Done *DoneEvent
	// Error is a failed reply (the partial text is stored as failed); it is also the
	// iteration's error.
	Error *APIError
}

// Re-attaching gives up after this many tries in a row that bring no new event.
const maxReattach = 5

// maxEventLine bounds one line of the stream: a `done` event carries the whole reply.
const maxEventLine = 16 << 20

// StreamReply sends a message and yields the reply's events as they come: `message`, the
// `delta`s, then `done` or `error`. When the connection drops mid-reply it re-attaches to
// the reply with Last-Event-ID and goes on from the last event received, so the deltas
// always add up to the reply's text. An error response (before any event) is an *APIError.
func (c *Client) StreamReply(ctx context.Context, conversation ConversationId, req SendMessageRequest) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		c.follow(ctx, conversation, &replyStream{}, func(ctx context.Context) (*http.Response, error) {
			return c.ClientInterface.SendMessageStream(ctx, conversation, req)
		}, yield)
	}
}

// StreamRegenerate asks for a new reply to the user message that `reply` answers and
// yields its events, as StreamReply does (its `message` event is Regenerate).
func (c *Client) StreamRegenerate(ctx context.Context, conversation ConversationId, reply MessageId) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		c.follow(ctx, conversation, &replyStream{regenerate: true}, func(ctx context.Context) (*http.Response, error) {
			return c.ClientInterface.RegenerateMessageStream(ctx, conversation, reply)
		}, yield)
	}
}

// FollowReply yields the events of a reply after lastEventID (all of them when it is
// negative), then its live ones until it ends: how another process, or a client that
// restarted, watches a reply it did not start.
func (c *Client) FollowReply(ctx context.Context, conversation ConversationId, reply MessageId, lastEventID int64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		s := &replyStream{reply: reply, last: lastEventID, text: max(lastEventID, 0)}
		c.follow(ctx, conversation, s, nil, yield)
	}
}

// replyStream is what is known of a reply while reading its events.
type replyStream struct {
	regenerate bool
	reply      openapi_types.UUID // known from the `message` event on
	last       int64              // the last event's id; -1 before any
	text       int64              // bytes of reply text yielded
	ended      bool
}

func (c *Client) follow(ctx context.Context, conversation ConversationId, s *replyStream, open func(context.Context) (*http.Response, error), yield func(Event, error) bool) {
	if open == nil {
		open = s.reattach(c, conversation)
	} else {
		s.last = -1
	}
	for tries := 0; ; {
		resp, err := open(ctx)
		if err == nil {
			err = checkStream(resp)
		}
		if err != nil {
			var apiErr *APIError
			if errors.As(err, &apiErr) || s.reply == (openapi_types.UUID{}) || ctx.Err() != nil {
				yield(Event{}, err)
				return
			}
			// The server could not be reached to re-attach: try again below.
		} else {
			before := s.last
			stop := s.read(resp, yield)
			resp.Body.Close()
			if stop || s.ended {
				return
			}
			if s.last > before {
				tries = 0
			}
			if ctx.Err() != nil {
				yield(Event{}, ctx.Err())
				return
			}
			if s.reply == (openapi_types.UUID{}) {
				yield(Event{}, errors.New("assistant: the stream ended before the reply started"))
				return
			}
			err = errors.New("the connection dropped mid-reply")
		}
		if tries++; tries > maxReattach {
			yield(Event{}, fmt.Errorf("assistant: re-attaching to reply %s failed %d times: %w", s.reply, maxReattach, err))
			return
		}
		// Backing off: a replica restarting or a proxy reloading needs a moment.
		select {
		case <-ctx.Done():
			yield(Event{}, ctx.Err())
			return
		case <-time.After(time.Duration(50<<tries) * time.Millisecond):
		}
		open = s.reattach(c, conversation)
	}
}

func (s *replyStream) reattach(c *Client, conversation ConversationId) func(context.Context) (*http.Response, error) {
	return func(ctx context.Context) (*http.Response, error) {
		var params StreamMessageEventsParams
		if s.last >= 0 {
			id := strconv.FormatInt(s.last, 10)
			params.LastEventID = &id
		}
		return c.ClientInterface.StreamMessageEvents(ctx, conversation, s.reply, &params)
	}
}

// checkStream refuses a response that is not an event stream (the error envelopes became
// *APIError before this).
func checkStream(resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		resp.Body.Close()
		return fmt.Errorf("assistant: expected an event stream, got %d %s", resp.StatusCode, mt)
	}
	return nil
}

// read yields the events of one connection; stop is true when the consumer stopped.
func (s *replyStream) read(resp *http.Response, yield func(Event, error) bool) (stop bool) {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var id, typ string
	var data strings.Builder
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				typ = value
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			}
			continue // comments (": ping") and unknown fields too
		}
		if typ == "" && data.Len() == 0 {
			continue
		}
		ev, err := s.event(id, typ, data.String())
		id, typ = "", ""
		data.Reset()
		if err != nil {
			yield(Event{}, err)
			return true
		}
		if ev == nil {
			continue
		}
		for _, e := range s.expand(*ev) {
			var err error
			if e.Error != nil {
				err = e.Error
			}
			if !yield(e, err) {
				return true
			}
		}
		if s.ended {
			return false
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		// Not a dropped connection: the same line would come again on re-attaching.
		yield(Event{}, fmt.Errorf("assistant: an event line over %d bytes", maxEventLine))
		return true
	}
	// A read error or an end without `done`: the connection dropped; the caller re-attaches.
	return false
}

// event decodes one event, or returns nil for one already seen or of a kind this client
// does not know (a newer server's).
func (s *replyStream) event(rawID, typ, data string) (*Event, error) {
	id, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("assistant: event %q has the id %q", typ, rawID)
	}
	if id <= s.last && typ != "message" {
		return nil, nil
	}
	ev := Event{ID: id, Type: typ}
	var target any
	switch typ {
	case "message":
		if s.last >= 0 {
			return nil, nil
		}
		if s.regenerate {
			ev.Regenerate = new(RegenerateEvent)
			target = ev.Regenerate
		} else {
			ev.Message = new(MessageEvent)
			target = ev.Message
		}
	case "delta":
		ev.Delta = new(DeltaEvent)
		target = ev.Delta
	case "done":
		ev.Done = new(DoneEvent)
		target = ev.Done
	case "error":
		target = new(ErrorEvent)
	default:
		return nil, nil
	}
	if err := json.Unmarshal([]byte(data), target); err != nil {
		return nil, fmt.Errorf("assistant: the %s event is not valid: %w", typ, err)
	}
	switch typ {
	case "message":
		if ev.Regenerate != nil {
			s.reply = ev.Regenerate.AssistantMessageId
		} else {
			s.reply = ev.Message.AssistantMessageId
		}
	case "error":
		ev.Error = fromBody(target.(*ErrorEvent).Error)
	}
	s.last = id
	return &ev, nil
}

// expand returns the event, preceded by the reply's missing text when a re-attached stream
// ended with only the final event: a reply that ended while the client was away gets no
// deltas, but its consumer still sees all of its text as deltas.
func (s *replyStream) expand(ev Event) []Event {
	switch ev.Type {
	case "delta":
		s.text += int64(len(ev.Delta.Content))
		return []Event{ev}
	case "done", "error":
		s.ended = true
	default:
		return []Event{ev}
	}
	if ev.Done == nil || int64(len(ev.Done.Content)) <= s.text {
		return []Event{ev}
	}
	start := s.text
	for start < int64(len(ev.Done.Content)) && !utf8.RuneStart(ev.Done.Content[start]) {
		start++
	}
	tail := Event{ID: int64(len(ev.Done.Content)), Type: "delta", Delta: &DeltaEvent{Content: ev.Done.Content[start:]}}
	s.text = int64(len(ev.Done.Content))
	return []Event{tail, ev}
}
