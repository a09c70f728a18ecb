package chat

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/generation"
	"assistant/server/logging"
	"assistant/server/notify"
	"assistant/server/sse"
)

type followFunc func(ctx context.Context, emit func(generation.Event) error, ping func() error) error

// eventStream is the response of both stream operations: it writes the events of a reply
// as server-sent events until the reply ends or the client leaves. Leaving does not stop
// the reply.
type eventStream struct {
	ctx    context.Context // the request's: done when the client leaves
	chat   *Chat
	follow followFunc
	// regenerated: the message event is a RegenerateEvent.
	regenerated bool
	// release frees the user's stream slot (SSE_STREAMS_PER_USER) when the stream ends.
	release func()
}

func (c *Chat) stream(ctx context.Context, release func(), follow followFunc) eventStream {
	return eventStream{ctx: ctx, chat: c, follow: follow, release: release}
}

func (s eventStream) VisitSendMessageStreamResponse(w http.ResponseWriter) error { return s.visit(w) }
func (s eventStream) VisitStreamMessageEventsResponse(w http.ResponseWriter) error {
	return s.visit(w)
}
func (s eventStream) VisitRegenerateMessageStreamResponse(w http.ResponseWriter) error {
	return s.visit(w)
}

func (s eventStream) visit(w http.ResponseWriter) error {
	defer s.release()
	sw := sse.Start(w)
	requestID := logging.RequestID(s.ctx)
	emit := func(e generation.Event) error {
		data, err := s.chat.eventData(s.ctx, e, s.regenerated, requestID)
		if err != nil {
			return err
		}
		return sw.Event(e.IDString(), e.Name, data)
	}
	if err := s.follow(s.ctx, emit, sw.Ping); err != nil {
		if s.ctx.Err() != nil {
			// The client left (or the server cut the stream off): apierr.Write tells which
			// and records the request's status.
			return s.ctx.Err()
		}
		s.chat.Log.WarnContext(s.ctx, "event stream ended early", slog.Any("error", err))
	}
	// Other errors after the headers cannot become a response; they are logged above.
	return nil
}

// StreamMessageEvents re-attaches to a reply: the events after Last-Event-ID, then live
// ones. A reply running on this process replays its exact events; one running on another
// replica is followed through its database checkpoints; an ended one answers with its
// final event at once.
func (c *Chat) StreamMessageEvents(ctx context.Context, req api.StreamMessageEventsRequestObject) (api.StreamMessageEventsResponseObject, error) {
	m, err := c.message(ctx, req.ConversationId, req.MessageId)
	if err != nil {
		return nil, err
	}
	if m.Role != db.MessageRoleAssistant {
		return nil, apierr.ErrNotFound // only replies have events
	}
	after := int64(-1)
	if v := req.Params.LastEventID; v != nil {
		var ok bool
		if after, ok = lastEventID(*v); !ok {
			return nil, apierr.Validation(api.FieldError{Field: "header.Last-Event-ID", Message: "is not an event id"})
		}
	}
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	release, err := c.acquireStream(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if run, ok := c.Generations.Lookup(m.ID); ok {
		return c.stream(ctx, release, func(ctx context.Context, emit func(generation.Event) error, ping func() error) error {
			return run.Follow(ctx, after, c.Heartbeat, emit, ping)
		}), nil
	}
	return c.stream(ctx, release, c.followStored(m.ID, after)), nil
}

// followStored follows a reply through the database: new text at each checkpoint as one
// delta (the text left at the end too), then the final event. For a reply that had ended
// already, only the final event. The row is read again when the replica running the reply
// notifies a checkpoint or its end and, in case a notification was missed, on the
// listener's fallback timer and after it reconnects.
func (c *Chat) followStored(id uuid.UUID, after int64) followFunc {
	return func(ctx context.Context, emit func(generation.Event) error, ping func() error) error {
		// Subscribed before the first read: whatever changes after it wakes this follower.
		sub := c.Notify.Subscribe(id, notify.Progress|notify.Done)
		defer sub.Close()
		fallback := time.NewTimer(c.Notify.Fallback())
		defer fallback.Stop()
		heartbeat := time.NewTicker(c.Heartbeat)
		defer heartbeat.Stop()
		sent := max(after, 0)
		for first := true; ; first = false {
			m, err := c.Q.GetMessageByID(ctx, c.DB, id)
			if err != nil {
				return err
			}
			n := int64(len(m.Content))
			ended := final(m.Status)
			if ended && first {
				return emit(generation.FinalEvent(m))
			}
			if first && after < 0 {
				// The same message event as on the replica running the reply.
				if m.ParentID == nil {
					return fmt.Errorf("reply %s answers no message", m.ID)
				}
				user, err := c.Q.GetMessageByID(ctx, c.DB, *m.ParentID)
				if err != nil {
					return err
				}
				if err := emit(generation.MessageEvent(user, m.ID)); err != nil {
					return err
				}
			}
			if n > sent {
				start := sent
				for start < n && !utf8.RuneStart(m.Content[start]) {
					start++
				}
				if err := emit(generation.DeltaEvent(n, m.Content[start:])); err != nil {
					return err
				}
				sent = n
			}
			if ended {
				// A follower that watched the reply gets its last words as a delta, as on
				// the replica that ran it, then the end.
				return emit(generation.FinalEvent(m))
			}
			if err := wake(ctx, sub.C, fallback, c.Notify.Fallback(), heartbeat.C, ping); err != nil {
				return err
			}
		}
	}
}

// wake waits until the row should be read again: a notification, or the fallback timer
// when none came for a while (the timer is re-armed either way). It pings the client at
// every heartbeat meanwhile.
func wake(ctx context.Context, notified <-chan struct{}, fallback *time.Timer, every time.Duration, heartbeat <-chan time.Time, ping func() error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-notified:
			fallback.Reset(every)
			return nil
		case <-fallback.C:
			fallback.Reset(every)
			return nil
		case <-heartbeat:
			if err := ping(); err != nil {
				return err
			}
		}
	}
}
