package notify

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"assistant/server/testutil/pgtest"
)

func start(t *testing.T, pool *pgxpool.Pool, gate func()) *Listener {
	t.Helper()
	l := Start(func(ctx context.Context) (*pgx.Conn, error) {
		gate()
		return pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = l.Close() })
	waitFor(t, "the listener to connect", func() bool { return l.PID() != 0 })
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wakeUp(t *testing.T, s *Sub) {
	t.Helper()
	select {
	case <-s.C:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up")
	}
}

// A notification wakes the subscribers of its message for its kind, and nobody else.
func TestNotificationsWakeTheirMessagesSubscribers(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	l := start(t, pool, func() {})
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	follower := l.Subscribe(a, Progress|Done)
	defer follower.Close()
	run := l.Subscribe(a, Cancel)
	defer run.Close()
	other := l.Subscribe(b, All)
	defer other.Close()

	for _, k := range []Kind{Progress, Progress, Done} {
		if err := Send(ctx, pool, k, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := Send(ctx, pool, Cancel, b); err != nil {
		t.Fatal(err)
	}
	// Notifications arrive in order: once b's has, a's three have been dispatched.
	wakeUp(t, other)
	wakeUp(t, follower)
	if follower.Wakes() != 3 || run.Wakes() != 0 || other.Wakes() != 1 {
		t.Errorf("wake-ups: follower %d (want 3), run %d (want 0), other %d (want 1)", follower.Wakes(), run.Wakes(), other.Wakes())
	}
	select {
	case <-follower.C:
		t.Error("three wake-ups were not merged into the one pending")
	default:
	}
	if err := Send(ctx, pool, Cancel, a); err != nil {
		t.Fatal(err)
	}
	wakeUp(t, run)
	if l.Received() != 5 {
		t.Errorf("received %d notifications, want 5", l.Received())
	}
	follower.Close()
	run.Close()
	other.Close()
	if n := l.Subscribers(); n != 0 {
		t.Errorf("%d subscriptions left after closing them all", n)
	}
}

// A listener whose connection is killed reconnects (with back-off while it cannot), and
// wakes every subscriber once it listens again: what was sent meanwhile was lost.
func TestListenerReconnectsAndWakesEveryone(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	open := make(chan struct{})
	attempts := 0
	l := start(t, pool, func() {
		attempts++
		if attempts > 1 {
			<-open // held down until the test lets it reconnect
		}
	})
	id := uuid.New()
	sub := l.Subscribe(id, Progress)
	defer sub.Close()

	first := l.PID()
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", int32(first)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the listener to notice", func() bool { return l.PID() == 0 })
	if err := Send(ctx, pool, Progress, id); err != nil { // nobody listens: lost
		t.Fatal(err)
	}
	close(open)
	waitFor(t, "the listener to reconnect", func() bool { return l.PID() != 0 })
	wakeUp(t, sub) // woken by the reconnection
	if l.PID() == first || l.Reconnects() != 1 || l.Received() != 0 {
		t.Errorf("pid %d (was %d), reconnects %d, received %d", l.PID(), first, l.Reconnects(), l.Received())
	}
	if err := Send(ctx, pool, Progress, id); err != nil {
		t.Fatal(err)
	}
	wakeUp(t, sub) // and notifications flow again
	if l.Received() != 1 {
		t.Errorf("received %d after reconnecting, want 1", l.Received())
	}
}

// Close ends the listening connection.
func TestCloseEndsTheConnection(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	l := start(t, pool, func() {})
	pid := int32(l.PID())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_ = l.Close() // twice is fine
	waitFor(t, "the backend to end", func() bool {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// A nil listener's subscriptions never wake; followers poll at the old pace.
func TestNilListener(t *testing.T) {
	t.Parallel()
	var l *Listener
	s := l.Subscribe(uuid.New(), All)
	s.Close()
	l.SetFallback(time.Hour)
	if l.Fallback() != 500*time.Millisecond || l.Close() != nil {
		t.Error("nil listener")
	}
}
