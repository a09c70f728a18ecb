// Package generation runs the model's replies on the server's own context, not the
// request's: a client that disconnects loses nothing. Each running reply keeps its events
// in memory so clients can re-attach and replay what they missed; the text is checkpointed
// to the database while it grows, and its final state is always stored (complete, failed
// or cancelled).
package generation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"assistant/gen/db"
	"assistant/server/database"
	"assistant/server/llm"
	"assistant/server/logging"
	"assistant/server/metrics"
	"assistant/server/notify"
	"assistant/server/recovery"
	"assistant/server/tracing"
)

// Event names of a reply's stream.
const (
	EventMessage = "message"
	EventDelta   = "delta"
	EventDone    = "done"
	EventError   = "error"
)

// Event is one event of a reply's stream, in database terms: package chat turns it into
// the API's payload. ID is the number of bytes of reply text sent up to and including this
// event (the message event is 0, the final event the text's length plus one), so an id
// says where in the text a client is, on any replica.
type Event struct {
	ID   int64
	Name string
	// Message is the row the event is about: for message, the user message being answered;
	// for done and error, the reply as stored (status failed for error).
	Message db.Message
	// ReplyID is the id of the reply (message events).
	ReplyID uuid.UUID
	// Delta is the next piece of the reply's text (delta events).
	Delta string
}

// IDString is the event's id as sent.
func (e Event) IDString() string { return strconv.FormatInt(e.ID, 10) }

// MessageEvent is a reply's first event: the user message it answers.
func MessageEvent(user db.Message, replyID uuid.UUID) Event {
	return Event{ID: 0, Name: EventMessage, Message: user, ReplyID: replyID}
}

// DeltaEvent is new text; size is the text's length up to and including it.
func DeltaEvent(size int64, text string) Event {
	return Event{ID: size, Name: EventDelta, Delta: text}
}

// FinalEvent is a reply's last event: error for a failed reply, done otherwise.
func FinalEvent(reply db.Message) Event {
	e := Event{ID: int64(len(reply.Content)) + 1, Name: EventDone, Message: reply}
	if reply.Status == db.MessageStatusFailed {
		e.Name = EventError
	}
	return e
}

func ptr[T any](v T) *T { return &v }

// Cancellation causes.
var (
	ErrCancelled = errors.New("cancelled by the user")
	ErrShutdown  = errors.New("the server is shutting down")
)

// Run is one reply being generated.
type Run struct {
	MessageID      uuid.UUID
	ConversationID uuid.UUID
	cancel         context.CancelCauseFunc

	mu      sync.Mutex
	text    []byte
	events  []Event
	changed chan struct{} // closed and replaced at every new event
	final   *db.Message
	done    chan struct{} // closed once the final state is stored and published
	meter   Meter         // told how the reply ended, once; nil after
}

// Meter is told, once, how a reply ended: its text, what the provider reported, and
// whether it failed. Package usage records the reply's tokens with it.
type Meter func(text string, res llm.Result, failed bool)

// spend tells the run's meter how it ended, the first time only. A panic in the meter is
// logged and does not touch the reply.
func (m *Manager) spend(r *Run, text string, res llm.Result, failed bool) {
	r.mu.Lock()
	meter := r.meter
	r.meter = nil
	r.mu.Unlock()
	if meter != nil {
		_ = recovery.Do(context.Background(), m.log, "record a reply's usage", func() error { meter(text, res, failed); return nil })
	}
}

func (r *Run) publish(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Done is closed once the reply's final state is stored.
func (r *Run) Done() <-chan struct{} { return r.done }

// Final is the stored final message (after Done).
func (r *Run) Final() db.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *r.final
}

// Follow calls emit for every event with an id above after, then for live events until
// the reply ends or ctx does. ping is called every heartbeat while nothing happens.
func (r *Run) Follow(ctx context.Context, after int64, heartbeat time.Duration, emit func(Event) error, ping func() error) error {
	next := 0
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		r.mu.Lock()
		evs := r.events[next:]
		changed := r.changed
		next = len(r.events)
		r.mu.Unlock()
		for _, e := range evs {
			final := e.Name == EventDone || e.Name == EventError
			if after >= 0 && !final && e.ID <= after {
				continue // the client has it
			}
			if err := emit(e); err != nil {
				return err
			}
			if final {
				return nil
			}
		}
		select {
		case <-changed:
		case <-tick.C:
			if err := ping(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Manager starts, tracks and stops the replies of this process.
type Manager struct {
	db       db.DBTX
	q        *db.Queries
	provider llm.Provider
	log      *slog.Logger
	// checkpoint is how often a run saves its text and looks for a cancel request.
	checkpoint time.Duration
	// notify tells other replicas of checkpoints and final states, and wakes a run at
	// once when another replica asks for its cancellation (nil: checkpoints only).
	notify *notify.Listener
	// metrics count the replies, their speed and the provider's failures (nil: not counted).
	metrics *metrics.Metrics

	base     context.Context
	stopBase context.CancelCauseFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	running map[uuid.UUID]*Run
}

// NewManager returns a manager whose runs live until Shutdown.
func NewManager(dbtx db.DBTX, q *db.Queries, provider llm.Provider, checkpoint time.Duration, log *slog.Logger) *Manager {
	base, stop := context.WithCancelCause(context.Background())
	return &Manager{db: dbtx, q: q, provider: provider, log: log, checkpoint: checkpoint,
		base: base, stopBase: stop, running: map[uuid.UUID]*Run{}}
}

// SetNotify makes the runs announce their checkpoints and final states through l's
// channel and listen there for cancel requests. Call before the first Start.
func (m *Manager) SetNotify(l *notify.Listener) { m.notify = l }

// SetMetrics makes the runs record themselves in mt. Call before the first Start.
func (m *Manager) SetMetrics(mt *metrics.Metrics) { m.metrics = mt }

// Provider is the model provider the runs use.
func (m *Manager) Provider() llm.Provider { return m.provider }

// Lookup returns the run of a message if it is running in this process.
func (m *Manager) Lookup(messageID uuid.UUID) (*Run, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.running[messageID]
	return r, ok
}

// Start runs the reply for the assistant message (already stored as pending) to the user
// message, which the message event carries. The run outlives the request that starts it; reqCtx gives only
// its request and user ids to the run's log lines. meter, when not nil, is told how the
// reply ended once its final state is stored (before the final event is published).
func (m *Manager) Start(reqCtx context.Context, user, assistant db.Message, req llm.Request, meter Meter) *Run {
	base := logging.WithRequestID(m.base, logging.RequestID(reqCtx))
	logging.SetUserID(base, logging.UserID(reqCtx))
	// The run's spans (the provider's stream and request, its database writes) belong to
	// the trace of the request that started it, though they outlive it.
	logging.SetTraceID(base, logging.TraceID(reqCtx))
	base = trace.ContextWithSpan(base, trace.SpanFromContext(reqCtx))
	ctx, cancel := context.WithCancelCause(base)
	r := &Run{MessageID: assistant.ID, ConversationID: assistant.ConversationID, cancel: cancel,
		changed: make(chan struct{}), done: make(chan struct{}), meter: meter}
	r.events = append(r.events, MessageEvent(user, assistant.ID))
	m.mu.Lock()
	m.running[r.MessageID] = r
	m.mu.Unlock()
	model := cmp.Or(req.Model, m.provider.DefaultModel())
	m.metrics.ReplyStarted(model)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		outcome := metrics.ReplyFailed // unless run gets to its end
		defer func() { m.metrics.ReplyFinished(model, outcome) }()
		if err := recovery.Do(ctx, m.log, "generation", func() error { outcome = m.run(ctx, r, req, model); return nil }); err != nil {
			_ = recovery.Do(ctx, m.log, "store a panicked generation", func() error { m.abandon(r); return nil })
			m.release(r)
		}
	}()
	return r
}

// Cancel stops the run (its upstream request is closed) and waits until its final state is
// stored. It reports false when the message is not running in this process.
func (m *Manager) Cancel(ctx context.Context, messageID uuid.UUID) (db.Message, bool, error) {
	r, ok := m.Lookup(messageID)
	if !ok {
		return db.Message{}, false, nil
	}
	r.cancel(ErrCancelled)
	select {
	case <-r.done:
		return r.Final(), true, nil
	case <-ctx.Done():
		return db.Message{}, true, ctx.Err()
	}
}

// CancelConversation cancels the conversation's run in this process, if any, and waits
// until it is stored.
func (m *Manager) CancelConversation(ctx context.Context, conversationID uuid.UUID) error {
	m.mu.Lock()
	var ids []uuid.UUID
	for id, r := range m.running {
		if r.ConversationID == conversationID {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		if _, _, err := m.Cancel(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// run streams the reply and stores its end; it returns the stored status (for the metrics).
func (m *Manager) run(ctx context.Context, r *Run, req llm.Request, model string) string {
	defer r.cancel(nil)
	log := m.log.With(slog.String("message_id", r.MessageID.String()))

	stopCheckpoints := make(chan struct{})
	checkpointsDone := make(chan struct{})
	go func() {
		defer close(checkpointsDone)
		_ = recovery.Do(ctx, log, "generation checkpoints", func() error {
			m.checkpoints(ctx, r, stopCheckpoints, log)
			return nil
		})
	}()

	// A panic in the provider (its client library, a chunk it cannot handle) fails this
	// reply with error_code internal, like any other error that is not the upstream's.
	var res llm.Result
	start := time.Now()
	var first time.Time
	sctx, span := tracing.Start(ctx, "llm.stream", trace.WithAttributes(attribute.String("gen_ai.request.model", model)))
	err := recovery.Do(sctx, log, "provider stream", func() error {
		var err error
		res, err = m.provider.Stream(sctx, req, func(text string) error {
			if first.IsZero() {
				first = time.Now()
				m.metrics.FirstToken(model, first.Sub(start))
			}
			r.mu.Lock()
			r.text = append(r.text, text...)
			n := int64(len(r.text))
			r.mu.Unlock()
			r.publish(DeltaEvent(n, text))
			return nil
		})
		return err
	})
	end := time.Now()
	close(stopCheckpoints)
	<-checkpointsDone

	status, code := db.MessageStatusComplete, ""
	switch {
	case err == nil:
	case errors.Is(context.Cause(ctx), ErrCancelled):
		status = db.MessageStatusCancelled
	case errors.Is(context.Cause(ctx), ErrShutdown):
		status, code = db.MessageStatusCancelled, "shutdown"
	default:
		status = db.MessageStatusFailed
		if c, ok := llm.AsUpstream(err); ok {
			code = c
			m.metrics.ProviderError(c)
		} else {
			code = "internal"
		}
		log.ErrorContext(ctx, "generation failed", slog.String("code", code), slog.Any("error", err))
		tracing.Fail(span, code)
	}
	span.End()
	r.mu.Lock()
	text := string(r.text)
	r.mu.Unlock()
	if status == db.MessageStatusComplete && !first.IsZero() {
		tokens := llm.EstimateTokens(text)
		if res.Usage != nil {
			tokens = res.Usage.CompletionTokens
		}
		m.metrics.TokenRate(model, tokens, end.Sub(first))
	}
	final := m.store(r, text, status, code, res, log)
	m.spend(r, text, res, status == db.MessageStatusFailed)

	r.mu.Lock()
	r.final = &final
	r.mu.Unlock()
	r.publish(FinalEvent(final))
	m.mu.Lock()
	delete(m.running, r.MessageID)
	m.mu.Unlock()
	close(r.done)
	return string(final.Status)
}

// abandon ends a run whose own bookkeeping panicked: the reply is stored as failed
// (internal) if nothing was stored yet, and followers are told.
func (m *Manager) abandon(r *Run) {
	select {
	case <-r.done:
		return
	default:
	}
	r.cancel(nil)
	r.mu.Lock()
	text, final := string(r.text), r.final
	r.mu.Unlock()
	if final == nil {
		stored := m.store(r, text, db.MessageStatusFailed, "internal", llm.Result{}, m.log)
		final = &stored
		r.mu.Lock()
		r.final = final
		r.mu.Unlock()
	}
	m.spend(r, text, llm.Result{}, true)
	// Told as failed whatever was stored: the run's bookkeeping broke.
	failed := *final
	failed.Status, failed.ErrorCode = db.MessageStatusFailed, ptr("internal")
	r.publish(FinalEvent(failed))
}

// release forgets a run that ended without reaching its own end, and wakes whoever waits
// for it. It cannot panic: a failure to store was logged, and the stale sweep fails the
// row later.
func (m *Manager) release(r *Run) {
	m.mu.Lock()
	delete(m.running, r.MessageID)
	m.mu.Unlock()
	select {
	case <-r.done:
	default:
		close(r.done)
	}
}

// store saves the final state, retrying briefly: the reply must not be lost to a blip.
func (m *Manager) store(r *Run, text string, status db.MessageStatus, code string, res llm.Result, log *slog.Logger) db.Message {
	p := db.FinishMessageParams{ID: r.MessageID, Content: text, Status: status}
	if res.FinishReason != "" {
		p.FinishReason = &res.FinishReason
	}
	if code != "" {
		p.ErrorCode = &code
	}
	if res.Usage != nil {
		pt, ct := int32(res.Usage.PromptTokens), int32(res.Usage.CompletionTokens)
		p.PromptTokens, p.CompletionTokens = &pt, &ct
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var msg db.Message
		msg, err = m.q.FinishMessage(ctx, m.db, p)
		cancel()
		if err == nil {
			m.announce(notify.Done, r.MessageID, log)
			return msg
		}
		if database.IsNoRows(err) {
			break // the conversation was deleted meanwhile
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	log.Error("store the final reply", slog.Any("error", err))
	// What the client is told matches what was meant to be stored; the stale sweep fails
	// the row later if it stayed behind.
	now := time.Now()
	return db.Message{ID: r.MessageID, ConversationID: r.ConversationID, Role: db.MessageRoleAssistant, Content: text, Status: status,
		ErrorCode: p.ErrorCode, FinishReason: p.FinishReason, PromptTokens: p.PromptTokens, CompletionTokens: p.CompletionTokens,
		CreatedAt: now, UpdatedAt: now}
}

// checkpoints saves the text every interval (also when it did not grow, so the row shows
// the run is alive) and honours cancel requests made through the database.
func (m *Manager) checkpoints(ctx context.Context, r *Run, stop <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(m.checkpoint)
	defer t.Stop()
	// A cancel requested on another replica wakes the run for a checkpoint at once, which
	// reads the request from the row.
	cancels := m.notify.Subscribe(r.MessageID, notify.Cancel)
	defer cancels.Close()
	announced := -1
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		case <-cancels.C:
		}
		r.mu.Lock()
		text := string(r.text)
		r.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		requested, err := m.q.CheckpointMessage(cctx, m.db, text, r.MessageID)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("checkpoint", slog.Any("error", err))
			}
			continue
		}
		if requested != nil {
			r.cancel(ErrCancelled)
			continue
		}
		if len(text) != announced {
			announced = len(text)
			m.announce(notify.Progress, r.MessageID, log)
		}
	}
}

// announce tells every replica's followers of the message to look at its row again. A
// failure is logged; they look again on their fallback timer.
func (m *Manager) announce(kind notify.Kind, messageID uuid.UUID, log *slog.Logger) {
	if m.notify == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := notify.Send(ctx, m.db, kind, messageID); err != nil {
		log.Warn("notify other replicas", slog.Any("error", err))
	}
}

// Running is the number of runs in this process.
func (m *Manager) Running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.running)
}

// Shutdown lets the runs finish until ctx ends, then cancels the rest (stored as
// cancelled with code shutdown) and waits for them to be stored.
func (m *Manager) Shutdown(ctx context.Context) {
	finished := make(chan struct{})
	go func() { m.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	m.log.Warn("shutdown: cancelling running replies", slog.Int("running", m.Running()))
	m.stopBase(ErrShutdown)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		m.log.Error("shutdown: replies still running after cancellation")
	}
}

// SweepStale fails replies whose process died: no checkpoint for staleAfter.
func (m *Manager) SweepStale(ctx context.Context, staleAfter time.Duration) (int64, error) {
	n, err := m.q.FailStaleGenerations(ctx, m.db, staleAfter.Seconds())
	if err != nil {
		return 0, fmt.Errorf("fail stale generations: %w", err)
	}
	if n > 0 {
		m.log.Warn("replies interrupted by a stopped process marked failed", slog.Int64("count", n))
	}
	return n, nil
}
