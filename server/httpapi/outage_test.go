package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"assistant/server/database"
	"assistant/server/migrate"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/testenv"
)

// PostgreSQL stopped for 5 s under concurrent writes. The test runs its own cluster
// (scripts/postgres.sh) so it can stop it, with the production pool settings
// (database.Open), and has a few clients create conversations throughout: every answer
// must be a 201 or the 503 envelope (never a 500, never a hang), every 201 must be readable
// afterwards, and writes must succeed again within 2 s of PostgreSQL accepting connections.
func TestPostgresOutageUnderWrites(t *testing.T) {
	testenv.URL(t, testenv.Database) // where `make test`'s services run, PostgreSQL's programs are installed
	t.Parallel()
	const (
		writers      = 4
		outage       = 5 * time.Second
		recoverBound = 2 * time.Second
		after        = 3 * time.Second // writing goes on this long after the first success
	)

	script, err := filepath.Abs("../../scripts/postgres.sh")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: the cluster runs as the postgres user when the test is root, and must
	// reach its directory (t.TempDir's parent is private to the test's user).
	dir, err := os.MkdirTemp("", "outage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	pg := func(args ...string) {
		t.Helper()
		cmd := exec.Command(script, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Fatalf("postgres.sh %s: %v\n%s\npostgres.log:\n%s", strings.Join(args, " "), err, out.Bytes(), log)
		}
	}
	t.Cleanup(func() {
		_ = exec.Command(script, "stop", dir).Run()
		_ = os.RemoveAll(dir)
	})
	pg("start", dir, port, "fast")
	dbURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%s/assistant?sslmode=disable", port)
	ctx := context.Background()
	if err := migrate.Run(ctx, dbURL, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := database.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	env := apitest.New(t, apitest.WithPool(pool, dbURL))
	token := env.Register("outage@example.com", "correct horse battery").AccessToken

	type result struct {
		status int
		id     string
		done   time.Time
		err    error
	}
	var (
		mu      sync.Mutex
		results []result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	write := func(w, i int) result {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		body := fmt.Sprintf(`{"title":"writer %d, write %d"}`, w, i)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, env.Server.URL+"/api/v1/conversations", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := env.Client.Do(req)
		if err != nil {
			return result{err: err, done: time.Now()}
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return result{err: err, done: time.Now()}
		}
		env.Check(req, &apitest.Response{Response: resp, Body: b}) // documented, envelope
		r := result{status: resp.StatusCode, done: time.Now()}
		if resp.StatusCode == http.StatusCreated {
			var c struct{ ID string }
			if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
				r.err = fmt.Errorf("201 without an id: %s", b)
			}
			r.id = c.ID
		} else if resp.StatusCode != http.StatusServiceUnavailable {
			r.err = fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return r
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := write(w, i)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	stopWriters := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	t.Cleanup(stopWriters)

	time.Sleep(time.Second)
	pg("stop", dir) // pg_ctl stop -m fast: open connections are terminated
	stopped := time.Now()
	time.Sleep(outage)
	started := make(chan error, 1)
	go func() { started <- exec.Command(script, "start", dir, port, "fast").Run() }()
	back := waitAccepting(t, dbURL) // the moment PostgreSQL answers again
	if err := <-started; err != nil {
		t.Fatalf("postgres.sh start: %v", err)
	}
	t.Logf("PostgreSQL down for %s", back.Sub(stopped).Round(time.Millisecond))

	// The first write answered 201 after the stop (so after PostgreSQL was back).
	var firstOK time.Time
	deadline := back.Add(recoverBound + 10*time.Second)
	for firstOK.IsZero() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		for _, r := range results {
			if r.status == http.StatusCreated && r.done.After(stopped) && (firstOK.IsZero() || r.done.Before(firstOK)) {
				firstOK = r.done
			}
		}
		mu.Unlock()
	}
	if !firstOK.IsZero() {
		time.Sleep(after)
	}
	stopWriters()

	counts := map[string]int{}
	var acked []string
	unavailableAfter := 0
	for _, r := range results {
		switch {
		case r.err != nil:
			counts["other"]++
			t.Errorf("a write answered neither 201 nor 503: %v", r.err)
		default:
			counts[fmt.Sprint(r.status)]++
		}
		if r.status == http.StatusCreated {
			acked = append(acked, r.id)
		}
		if r.status == http.StatusServiceUnavailable && r.done.After(back) {
			unavailableAfter++
		}
	}
	if firstOK.IsZero() {
		t.Fatalf("writes %v: none succeeded within %s of PostgreSQL's return", counts, deadline.Sub(back))
	}
	// Negative when a write got through before this test's own probe saw PostgreSQL back.
	recovery := firstOK.Sub(back)
	t.Logf("writes: %v; first 201 %s after PostgreSQL was back (by this test's probe); %d 503s answered after it was back",
		counts, recovery.Round(time.Millisecond), unavailableAfter)
	if recovery > recoverBound {
		t.Errorf("the first successful write came %s after PostgreSQL was back; want at most %s", recovery, recoverBound)
	}
	if counts["503"] == 0 {
		t.Errorf("no 503 while PostgreSQL was down: the outage was not exercised")
	}

	// Every acknowledged write is there.
	slices.Sort(acked)
	if len(slices.Compact(slices.Clone(acked))) != len(acked) {
		t.Errorf("one id acknowledged twice")
	}
	for _, id := range acked {
		if r := env.As(token, http.MethodGet, "/api/v1/conversations/"+id, nil); r.StatusCode != http.StatusOK {
			t.Errorf("acknowledged conversation %s: %d %s", id, r.StatusCode, r.Body)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM conversations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < len(acked) {
		t.Errorf("%d conversations stored, %d acknowledged", n, len(acked))
	}
	t.Logf("%d acknowledged writes, all readable; %d rows (a write can commit and still fail to answer)", len(acked), n)
}

// waitAccepting returns the moment a new connection to url first answers a query.
func waitAccepting(t *testing.T, url string) time.Time {
	t.Helper()
	end := time.Now().Add(time.Minute)
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			err = c.Ping(ctx)
			_ = c.Close(ctx)
		}
		cancel()
		if err == nil {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("PostgreSQL did not come back within a minute")
	return time.Time{}
}

// freePort is a loopback TCP port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
