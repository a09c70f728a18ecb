// Package notify carries a reply's news between replicas through PostgreSQL's
// LISTEN/NOTIFY: the replica running a reply says when its text was checkpointed and when
// its final state was stored; a replica asked to cancel a reply it does not run says so.
// Each process holds one dedicated connection that listens on one channel and wakes the
// subscribers of the message a notification names.
//
// A notification carries no data, only "look again": the row is the truth. Notifications
// are lost while the listening connection is down, so every subscriber is woken as soon as
// the listener has reconnected, and subscribers also look again on a slow fallback timer.
package notify

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/db"
	"assistant/server/recovery"
)

// Channel is the channel every replica listens on.
const Channel = "assistant_messages"

// Kind is what happened to a message.
type Kind uint8

const (
	// Progress: the reply's text was checkpointed.
	Progress Kind = 1 << iota
	// Done: the reply's final state is stored.
	Done
	// Cancel: someone asked for the reply to be cancelled.
	Cancel
)

// All is every kind.
const All = Progress | Done | Cancel

var kindNames = map[Kind]string{Progress: "progress", Done: "done", Cancel: "cancel"}

func parseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return k, true
		}
	}
	return 0, false
}

// Send notifies every replica (this one included) that kind happened to the message. The
// notification is delivered when q's transaction commits (at once outside a transaction).
func Send(ctx context.Context, q db.DBTX, kind Kind, messageID uuid.UUID) error {
	_, err := q.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, kindNames[kind]+" "+messageID.String())
	return err
}

// DefaultFallback is how often a subscriber looks again without being woken.
const DefaultFallback = 5 * time.Second

// Backoff bounds the wait between reconnection attempts.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Listener is the process's listening connection and its subscribers. A nil *Listener is
// valid: its subscriptions are never woken (subscribers rely on the fallback timer).
type Listener struct {
	connect func(ctx context.Context) (*pgx.Conn, error)
	log     *slog.Logger

	mu   sync.Mutex
	subs map[uuid.UUID]map[*Sub]struct{}

	fallback   atomic.Int64
	pid        atomic.Uint32
	received   atomic.Int64
	reconnects atomic.Int64

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Start opens the listener: connect dials a connection of its own (not one of the pool's),
// again after each loss, with back-off. It listens until Close.
func Start(connect func(ctx context.Context) (*pgx.Conn, error), log *slog.Logger) *Listener {
	ctx, stop := context.WithCancel(context.Background())
	l := &Listener{connect: connect, log: log, subs: map[uuid.UUID]map[*Sub]struct{}{}, stop: stop, done: make(chan struct{})}
	l.fallback.Store(int64(DefaultFallback))
	recovery.Go(ctx, log, "notification listener", func() error {
		for {
			err := recovery.Do(ctx, log, "notification listener loop", func() error { l.run(ctx); return nil })
			if err == nil || ctx.Err() != nil {
				return nil
			}
			// The loop itself panicked (logged with its stack): subscribers fall back to their
			// timer until it is listening again.
			l.log.Error("notification listener restarting after a panic")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}, func(error) { close(l.done) })
	return l
}

// Close stops listening and waits for the connection to close.
func (l *Listener) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		l.stop()
		<-l.done
	})
	return nil
}

// Fallback is how often a subscriber should look again without a wake-up.
func (l *Listener) Fallback() time.Duration {
	if l == nil {
		return 500 * time.Millisecond // nothing wakes it: the old polling
	}
	return time.Duration(l.fallback.Load())
}

// SetFallback changes Fallback (tests make it long to show that notifications drive
// followers).
func (l *Listener) SetFallback(d time.Duration) {
	if l != nil {
		l.fallback.Store(int64(d))
	}
}

// PID is the backend process id of the listening connection (0 while disconnected).
func (l *Listener) PID() uint32 { return l.pid.Load() }

// Received is the number of notifications received for this channel.
func (l *Listener) Received() int64 { return l.received.Load() }

// Reconnects is the number of times the listener connected again after losing its
// connection.
func (l *Listener) Reconnects() int64 { return l.reconnects.Load() }

// Sub is one subscription: C receives a value (it holds at most one) when a notification
// of the subscribed kinds names the message, and after the listener reconnects.
type Sub struct {
	C     <-chan struct{}
	c     chan struct{}
	kinds Kind
	id    uuid.UUID
	l     *Listener
	// Wakes is the number of wake-ups sent to C (some may have been merged into one).
	wakes atomic.Int64
}

// Wakes is the number of wake-ups this subscription was sent.
func (s *Sub) Wakes() int64 { return s.wakes.Load() }

// Subscribe wakes the returned subscription for the message's notifications of the given
// kinds. Subscribe before reading the row: what changes after is then never missed.
func (l *Listener) Subscribe(messageID uuid.UUID, kinds Kind) *Sub {
	c := make(chan struct{}, 1)
	s := &Sub{C: c, c: c, kinds: kinds, id: messageID, l: l}
	if l == nil {
		return s
	}
	l.mu.Lock()
	set := l.subs[messageID]
	if set == nil {
		set = map[*Sub]struct{}{}
		l.subs[messageID] = set
	}
	set[s] = struct{}{}
	l.mu.Unlock()
	return s
}

// Close ends the subscription.
func (s *Sub) Close() {
	if s.l == nil {
		return
	}
	s.l.mu.Lock()
	if set := s.l.subs[s.id]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(s.l.subs, s.id)
		}
	}
	s.l.mu.Unlock()
}

func (s *Sub) wake() {
	s.wakes.Add(1)
	select {
	case s.c <- struct{}{}:
	default: // one pending wake-up is enough
	}
}

// Subscribers is the number of open subscriptions.
func (l *Listener) Subscribers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, set := range l.subs {
		n += len(set)
	}
	return n
}

func (l *Listener) dispatch(payload string) {
	name, id, ok := strings.Cut(payload, " ")
	if !ok {
		return
	}
	kind, ok := parseKind(name)
	if !ok {
		return
	}
	msgID, err := uuid.Parse(id)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.subs[msgID] {
		if s.kinds&kind != 0 {
			s.wake()
		}
	}
}

// wakeAll wakes every subscriber: what was sent while the listener was not listening is
// lost, so everyone looks again.
func (l *Listener) wakeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, set := range l.subs {
		for s := range set {
			s.wake()
		}
	}
}

func (l *Listener) run(ctx context.Context) {
	backoff := minBackoff
	connected := false
	for ctx.Err() == nil {
		conn, err := l.listen(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("notification listener cannot connect; retrying", slog.Duration("in", backoff), slog.Any("error", err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		if connected {
			l.reconnects.Add(1)
			l.log.Info("notification listener reconnected")
		}
		connected = true
		l.wakeAll()
		l.pid.Store(conn.PgConn().PID())
		err = l.receive(ctx, conn)
		l.pid.Store(0)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("notification listener lost its connection; reconnecting", slog.Any("error", err))
	}
}

func (l *Listener) listen(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := l.connect(cctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (l *Listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel != Channel {
			continue
		}
		l.received.Add(1)
		l.dispatch(n.Payload)
	}
}
