// Package database opens the PostgreSQL pool, runs transactions and classifies the
// driver's errors (IsNoRows, IsUniqueViolation, IsUnavailable...), so handlers and the
// HTTP error package need not know the driver's error types.
package database

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"assistant/gen/db"
	"assistant/server/tracing"
)

// Open returns a pool for url. It does not wait for the database: a server that starts
// while PostgreSQL is down serves 503s until it is back, then recovers by itself.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.HealthCheckPeriod = 15 * time.Second
	// Queries inside a traced request become its child spans; elsewhere this costs a
	// context lookup.
	cfg.ConnConfig.Tracer = tracing.QueryTracer{}
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	return pool, nil
}

// Beginner is a pool, a connection or a transaction (where Begin makes a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// DB is what handlers need of the pool: queries, and transactions.
type DB interface {
	db.DBTX
	Beginner
}

// WithTx runs fn in a transaction, committing when fn returns nil. The rollback runs on a
// context that is not cancelled, so a client that goes away cannot leave it half done.
func WithTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsNoRows reports whether err is a query for one row that found none (pgx.ErrNoRows).
func IsNoRows(err error) bool {
	return errors.Is(err, pgx.ErrNoRows)
}

// IsUniqueViolation reports whether err is PostgreSQL's unique_violation (23505),
// optionally on the named constraint or index.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	return constraint == "" || pgErr.ConstraintName == constraint
}

// IsForeignKeyViolation reports whether err is PostgreSQL's foreign_key_violation (23503):
// a write that referenced a row gone meanwhile.
func IsForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// IsUserGone reports a foreign_key_violation on a row's reference to its owner (a
// constraint named <table>_user_id_fkey): a write for a user deleted meanwhile.
func IsUserGone(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503" && strings.HasSuffix(pgErr.ConstraintName, "_user_id_fkey")
}

// IsUnstorableText reports text PostgreSQL refused: a NUL or bytes not valid in the
// database's encoding (22021), or a \u0000 inside jsonb (22P05).
func IsUnstorableText(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}

// IsUnavailable reports errors that mean the database is down or overloaded rather than
// that the query was wrong: connection failures and timeouts, a closed pool, and the
// SQLSTATE classes 08 (connection exception), 53 (insufficient resources) and 57P
// (shutting down, starting up).
func IsUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &ce), pgconn.Timeout(err), errors.As(err, &ne):
		return true
	case errors.As(err, &pgErr):
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57P")
	case errors.Is(err, puddle.ErrClosedPool):
		return true
	}
	return false
}

// NewID returns a new UUIDv7: unique, and ordered by creation time, so ids double as
// keyset-pagination tie-breakers.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// NewIDAfter returns a new UUIDv7 greater than after: a child message's id must be above
// its parent's (paths are ordered and kept by id), and a parent made on a replica whose
// clock runs ahead could otherwise have the greater one. It is NewID when that is already
// greater; else an id in the millisecond after after's, with fresh random bits.
func NewIDAfter(after uuid.UUID) uuid.UUID {
	id := NewID()
	if bytes.Compare(id[:], after[:]) > 0 {
		return id
	}
	ms := uint64(after[0])<<40 | uint64(after[1])<<32 | uint64(after[2])<<24 | uint64(after[3])<<16 | uint64(after[4])<<8 | uint64(after[5])
	ms++
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	// id's bytes 6..15 are NewID's own random bits with the version and variant already set.
	return id
}
