package chat_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
)

// accessLines are the access lines of method route written after the first skip lines
// of the log, and the log's ERROR lines.
func accessLines(t *testing.T, env *apitest.Env, skip int, method, route string) (access, errs []map[string]any) {
	t.Helper()
	for i, l := range env.Logs.Lines(t) {
		if l["level"] == "ERROR" {
			errs = append(errs, l)
		}
		if i >= skip && l["msg"] == "request" && l["method"] == method && l["route"] == route {
			access = append(access, l)
		}
	}
	return access, errs
}

// requireGone checks what n clients that went away leave in the log after its first skip
// lines: n INFO access lines with 499 for the route, and not one ERROR line.
func requireGone(t *testing.T, env *apitest.Env, skip int, method, route string, n int) {
	t.Helper()
	var access []map[string]any
	waitFor(t, "the access lines", func() bool {
		access, _ = accessLines(t, env, skip, method, route)
		return len(access) >= n
	})
	access, errs := accessLines(t, env, skip, method, route)
	for _, l := range access {
		if l["level"] != "INFO" || l["status"] != float64(apierr.StatusClientClosedRequest) {
			t.Errorf("access line %v, want INFO with 499", l)
		}
	}
	if len(access) != n || len(errs) != 0 {
		t.Errorf("%d access lines (want %d), ERROR lines %v\n%s", len(access), n, errs, env.Logs.String())
	}
}

// Clients that leave while their conversation's insert waits on a lock, round after
// round: each request is one INFO line with 499, no ERROR line, and each conversation is
// either stored whole or not at all.
func TestClientLeavesDuringASlowInsert(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	// The lock and the probe have connections of their own: the inserts take the pool's.
	side := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, f.env.DBURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c
	}
	locker, probe := side(), side()
	count := func(query string) int {
		var n int
		if err := probe.QueryRow(ctx, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := int(f.env.Pool.Config().MaxConns)
	const rounds = 3
	for round := range rounds {
		lock, err := locker.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lock.Exec(ctx, "LOCK TABLE conversations IN SHARE MODE"); err != nil { // blocks writes only
			t.Fatal(err)
		}
		skip := len(f.env.Logs.Lines(t))
		clientCtx, leave := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range n {
			title := fmt.Sprintf("t%d-%d", round, i)
			req := f.env.Request(http.MethodPost, "/api/v1/conversations",
				map[string]any{"title": title, "system_prompt": "p" + title, "model": "fake-large"})
			req.Header.Set("Authorization", "Bearer "+f.token)
			wg.Go(func() {
				resp, err := f.env.Client.Do(req.WithContext(clientCtx))
				if err == nil {
					resp.Body.Close()
					t.Errorf("a request was answered: %d", resp.StatusCode)
				}
			})
		}
		waitFor(t, "the inserts to wait on the lock", func() bool {
			return count(`SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
				WHERE c.relname = 'conversations' AND NOT l.granted
				  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`) == n
		})
		leave()
		wg.Wait()
		requireGone(t, f.env, skip, http.MethodPost, "/api/v1/conversations", n)

		// The inserts go on in PostgreSQL once the lock is released (the server closed
		// their connections, which PostgreSQL notices only when it answers).
		if err := lock.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the orphaned inserts to end", func() bool {
			return count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
				AND pid <> pg_backend_pid() AND state NOT IN ('idle')`) == 0
		})
	}

	rows, err := probe.Query(ctx, `SELECT title, coalesce(system_prompt, ''), coalesce(model, '') FROM conversations WHERE id <> $1`, f.conv.Id)
	if err != nil {
		t.Fatal(err)
	}
	titles, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([3]string, error) {
		var v [3]string
		return v, r.Scan(&v[0], &v[1], &v[2])
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range titles {
		if v[1] != "p"+v[0] || v[2] != "fake-large" {
			t.Errorf("a half-written conversation: %q", v)
		}
	}
	t.Logf("%d of %d cancelled inserts were committed whole, the rest not at all", len(titles), rounds*n)
}

// A client that leaves in the middle of a stream: one INFO access line with 499, no ERROR
// line, and the reply still completes.
func TestClientLeavesDuringAStream(t *testing.T) {
	t.Parallel()
	f := setup(t)
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"one ", "two"}, Step: step})
	skip := len(f.env.Logs.Lines(t))
	s := f.stream("count")
	var fe firstEvent
	s.MustNext(t).Decode(t, &fe)
	if ev := s.MustNext(t); ev.Name != "delta" {
		t.Fatalf("got %+v", ev)
	}
	s.Close()
	requireGone(t, f.env, skip, http.MethodPost, "/api/v1/conversations/{conversation_id}/messages/stream", 1)
	step <- struct{}{}
	step <- struct{}{}
	if m := f.waitStored(fe.AssistantMessageID); m.Status != api.Complete || m.Content != "one two" {
		t.Fatalf("stored %+v", m)
	}
}

// A client that leaves while its message is being stored: inside the transaction, nothing
// is stored; once the transaction has committed, the reply still starts and completes (a
// user message with a reply that never runs would block the conversation). Either way one
// INFO line with 499 and no ERROR line.
func TestClientLeavesWhileItsMessageIsStored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"still ", "here"}, Step: step})
	ctx := context.Background()
	side := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, f.env.DBURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c
	}
	rowLocker, tableLocker, probe := side(), side(), side()
	// waiting: a statement of the API's (its text contains what) waits on a lock.
	waiting := func(what string) func() bool {
		return func() bool {
			var got int
			err := probe.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
				AND wait_event_type = 'Lock' AND pid <> $1 AND query LIKE '%' || $2 || '%'`,
				tableLocker.PgConn().PID(), what).Scan(&got)
			return err == nil && got == 1
		}
	}
	const route = "/api/v1/conversations/{conversation_id}/messages/stream"

	for _, afterCommit := range []bool{false, true} {
		skip := len(f.env.Logs.Lines(t))
		conv := f.newConversation(f.token, map[string]any{})
		// The transaction's last statement, touching the conversation, waits on this.
		rowLock, err := rowLocker.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rowLock.Exec(ctx, "SELECT 1 FROM conversations WHERE id = $1 FOR NO KEY UPDATE", conv.Id); err != nil {
			t.Fatal(err)
		}
		clientCtx, leave := context.WithCancel(ctx)
		req := f.env.Request(http.MethodPost, "/api/v1/conversations/"+conv.Id.String()+"/messages/stream", map[string]any{"content": "hi"})
		req.Header.Set("Authorization", "Bearer "+f.token)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := f.env.Client.Do(req.WithContext(clientCtx)); err == nil {
				resp.Body.Close()
			}
		}()
		waitFor(t, "the transaction to wait on the conversation", waiting("UPDATE conversations"))

		if afterCommit {
			// The model's request is built before the transaction, so nothing but the
			// reply's start follows the commit: the client leaves once the provider has
			// the request, the reply held at its first chunk.
			sent := len(f.fake.Requests())
			if err := rowLock.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the reply to reach the provider", func() bool { return len(f.fake.Requests()) > sent })
		}
		leave()
		<-done
		if afterCommit {
			step <- struct{}{}
			step <- struct{}{}
			requireGone(t, f.env, skip, http.MethodPost, route, 1)
		} else {
			requireGone(t, f.env, skip, http.MethodPost, route, 1)
			if err := rowLock.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the abandoned transaction to end", func() bool { return !waiting("UPDATE conversations")() })
		}

		r := f.call(http.MethodGet, "/api/v1/conversations/"+conv.Id.String()+"/messages?limit=100", nil)
		var l api.MessageList
		r.JSON(t, &l)
		switch {
		case !afterCommit && len(l.Items) != 0:
			t.Errorf("left inside the transaction, yet stored: %s", r.Body)
		case afterCommit && len(l.Items) != 2:
			t.Errorf("left after the commit: want the message and its reply, got %s", r.Body)
		case afterCommit:
			g := &fixture{t: t, env: f.env, fake: f.fake, token: f.token, conv: conv}
			if m := g.waitStored(l.Items[1].Id.String()); m.Status != api.Complete || m.Content != "still here" {
				t.Errorf("the reply: %+v", m)
			}
		}
	}
}
