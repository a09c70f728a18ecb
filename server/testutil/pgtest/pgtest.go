// Package pgtest gives each test its own real PostgreSQL database, cloned from a template
// that has every migration applied. The cluster comes from TEST_DATABASE_URL, which
// `make test` (scripts/test.sh) sets after starting a private one; without it a test fails
// at once (testenv).
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"assistant"
	"assistant/server/migrate"
	"assistant/server/testutil/testenv"
)

// templateLock serialises template creation across the test binaries that run at once.
const templateLock = 7261127099

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// AdminURL is the cluster's maintenance database URL, from TEST_DATABASE_URL.
func AdminURL(t testing.TB) string {
	t.Helper()
	return testenv.URL(t, testenv.Database)
}

// URLFor is the admin URL pointed at another database.
func URLFor(t testing.TB, name string) string {
	t.Helper()
	u, err := url.Parse(AdminURL(t))
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewDatabase creates an empty database (no migrations) and drops it after the test.
func NewDatabase(t testing.TB) string {
	t.Helper()
	name := "t_" + randomSuffix()
	u := URLFor(t, name)
	t.Cleanup(func() { drop(t, name) })
	return u
}

// New returns a pool on a fresh, migrated database of its own, dropped after the test,
// and the database's URL.
func New(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	AdminURL(t) // before the template, so that a missing TEST_DATABASE_URL fails this test only
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(t) })
	if templateErr != nil {
		t.Fatalf("migrated template: %v", templateErr)
	}
	name := "t_" + randomSuffix()
	admin := connect(t, AdminURL(t))
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	dbURL := URLFor(t, name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		drop(t, name)
	})
	return pool, dbURL
}

func drop(t testing.TB, name string) {
	ctx := context.Background()
	admin := connect(t, AdminURL(t))
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		t.Errorf("drop test database %s: %v", name, err)
	}
}

// ensureTemplate creates the template named after a hash of the migrations, so a changed
// migration gets a new template instead of a stale one.
func ensureTemplate(t testing.TB) (string, error) {
	ctx := context.Background()
	h := sha256.New()
	err := fs.WalkDir(assistant.Migrations, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assistant.Migrations, p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "tmpl_" + hex.EncodeToString(h.Sum(nil))[:16]

	admin := connect(t, AdminURL(t))
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(templateLock)); err != nil {
		return "", err
	}
	defer func() { _, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock($1)", int64(templateLock)) }()

	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	if err := migrate.Run(ctx, URLFor(t, name), io.Discard); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	return name, nil
}

func connect(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to test cluster: %v", err)
	}
	return c
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
