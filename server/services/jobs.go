package services

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/recovery"
)

// job is periodic work: run at start-up, then every interval (never again when 0), each run
// bounded by timeout. A failure or a panic is logged and tried again at the next run.
type job struct {
	name              string
	interval, timeout time.Duration
	run               func(ctx context.Context) error
}

// jobs are the process's periodic work.
func (s *Services) jobs() []job {
	stale := max(30*s.cfg.CheckpointInterval, 30*time.Second)
	return []job{
		{name: "sweep stored files", timeout: 10 * time.Minute, run: func(ctx context.Context) error {
			return errors.Join(s.Files.Sweep(ctx), s.Exports.Sweep(ctx))
		}},
		// A reply whose checkpoint is older than 30 checkpoint intervals (at least 30 s) was
		// left running by a process that died.
		{name: "sweep interrupted replies", interval: time.Minute, timeout: time.Minute, run: func(ctx context.Context) error {
			_, err := s.Generations.SweepStale(ctx, stale)
			return err
		}},
		{name: "purge expired credentials", interval: time.Hour, timeout: time.Minute, run: purge(s.pool, s.log)},
		{name: "purge expired shares", interval: time.Hour, timeout: time.Minute, run: func(ctx context.Context) error {
			n, err := db.New().DeleteExpiredShares(ctx, s.pool)
			if n > 0 {
				s.log.Info("purged expired shares", slog.Int64("shares", n))
			}
			return err
		}},
	}
}

// purge removes dead refresh tokens, invitations, reset tokens and stale login failures.
func purge(conn db.DBTX, log *slog.Logger) func(context.Context) error {
	q := db.New()
	return func(ctx context.Context) error {
		n, err := accounts.Purge(ctx, conn, q)
		log.Info("purged expired credentials", slog.Int64("refresh_tokens", n.RefreshTokens),
			slog.Int64("invites", n.Invites), slog.Int64("password_resets", n.PasswordResets),
			slog.Int64("login_attempts", n.LoginAttempts))
		return err
	}
}

// Run runs every periodic job until ctx ends, then returns once all have stopped: the one
// owner of background work, and its one shutdown path.
func (s *Services) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, j := range s.jobs() {
		wg.Go(func() { every(ctx, s.log, j) })
	}
	wg.Wait()
}

func every(ctx context.Context, log *slog.Logger, j job) {
	var tick <-chan time.Time
	if j.interval > 0 {
		t := time.NewTicker(j.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		err := recovery.Do(ctx, log, j.name, func() error {
			rctx, cancel := context.WithTimeout(ctx, j.timeout)
			defer cancel()
			return j.run(rctx)
		})
		if err != nil && ctx.Err() == nil {
			log.Warn(j.name, slog.Any("error", err))
		}
		if tick == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}
