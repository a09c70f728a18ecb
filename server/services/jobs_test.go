package services

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"assistant/gen/db"
	"assistant/server/database"
	"assistant/server/logging"
	"assistant/server/testutil/logtest"
	"assistant/server/testutil/pgtest"
)

// The purge runs at start-up (not only after its first hour), logs its counts, and stops
// with the process's context.
func TestPurgeRunsAtStartAndStops(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	u, err := db.New().CreateUser(ctx, pool, db.CreateUserParams{ID: database.NewID(), Email: "ada@example.com", DisplayName: "Ada", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO password_resets (id, user_id, token_hash, expires_at)
		VALUES ($1, $2, 'dead', now() - interval '1 minute')`, database.NewID(), u.ID); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{} // written by the job's goroutine, read by the test
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		log := logging.New(logs, slog.LevelInfo)
		every(runCtx, log, job{name: "purge", interval: time.Hour, timeout: time.Minute, run: purge(pool, log)})
	}()
	deadline := time.Now().Add(10 * time.Second) // a bound against never, not a timing assertion
	for !strings.Contains(logs.String(), `"password_resets":1`) {
		if time.Now().After(deadline) {
			t.Fatalf("no purge at start-up; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	var left int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM password_resets").Scan(&left); err != nil || left != 0 {
		t.Errorf("reset tokens left: %d, %v", left, err)
	}
}
