// Package migrate applies the embedded dbmate migrations. Two runs at once (two replicas
// starting, a retried deploy) are safe: each holds a PostgreSQL advisory lock while it
// migrates, so the second one finds nothing left to do.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
	_ "github.com/amacneil/dbmate/v2/pkg/driver/postgres" // registers postgres:// for dbmate
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"assistant"
)

// lockKey is an arbitrary constant shared by every migrating process.
const lockKey = 7261127000

// Run creates the database when it is missing, then applies pending migrations under the
// advisory lock. Progress goes to out.
func Run(ctx context.Context, databaseURL string, out io.Writer) error {
	if err := createDatabase(ctx, databaseURL); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(lockKey)); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(lockKey)) }()

	m, err := newDBMate(databaseURL, out)
	if err != nil {
		return err
	}
	if err := m.Migrate(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// DumpSchema writes the schema as pg_dump sees it (used by `make schema` for db/schema.sql).
func DumpSchema(databaseURL, path string) error {
	m, err := newDBMate(databaseURL, io.Discard)
	if err != nil {
		return err
	}
	m.SchemaFile = path
	return m.DumpSchema()
}

func newDBMate(databaseURL string, out io.Writer) (*dbmate.DB, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	m := dbmate.New(u)
	m.FS = assistant.Migrations
	m.MigrationsDir = []string{"db/migrations"}
	m.AutoDumpSchema = false
	m.Log = out
	return m, nil
}

// createDatabase creates the target database through the maintenance database, tolerating
// a concurrent creator.
func createDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := cfg.Database
	conn, err := pgx.Connect(ctx, databaseURL)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect: %w", err)
	}
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	// 42P04 duplicate_database, or 23505 when two creators race inside the catalog.
	if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")) {
		return fmt.Errorf("create database %s: %w", strings.TrimSpace(name), err)
	}
	return nil
}
