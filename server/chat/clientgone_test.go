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
				map[string]any{"title": title, "system_prompt": "p" + title, "model": "m"})
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
		if v[1] != "p"+v[0] || v[2] != "m" {
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
