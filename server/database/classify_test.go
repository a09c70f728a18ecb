package database_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"assistant/server/database"
	"assistant/server/testutil/pgtest"
)

// classes is what each classifier says of err.
type classes struct {
	noRows, unique, uniqueEmail, foreignKey, userGone, unstorable, unavailable bool
}

func classify(err error) classes {
	return classes{
		noRows:      database.IsNoRows(err),
		unique:      database.IsUniqueViolation(err, ""),
		uniqueEmail: database.IsUniqueViolation(err, "users_email_key"),
		foreignKey:  database.IsForeignKeyViolation(err),
		userGone:    database.IsUserGone(err),
		unstorable:  database.IsUnstorableText(err),
		unavailable: database.IsUnavailable(err),
	}
}

// Each classifier recognises PostgreSQL's and pgx's own errors, wrapped as handlers wrap
// them, and nothing else.
func TestClassifiers(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	user, other := database.NewID(), database.NewID()
	addUser := func(id any, email string) error {
		_, err := pool.Exec(ctx, `INSERT INTO users (id, email, display_name, role, password_hash)
			VALUES ($1, $2, 'Ada', 'user', 'x')`, id, email)
		return err
	}
	if err := addUser(user, "ada@example.com"); err != nil {
		t.Fatal(err)
	}

	var n int
	noRows := pool.QueryRow(ctx, `SELECT 1 WHERE false`).Scan(&n)
	duplicateEmail := addUser(other, "ada@example.com")
	duplicateID := addUser(user, "grace@example.com")
	_, userGone := pool.Exec(ctx, `INSERT INTO conversations (id, user_id) VALUES ($1, $2)`, database.NewID(), database.NewID())
	_, convGone := pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, role, content, status)
		VALUES ($1, $2, 'user', 'hi', 'complete')`, database.NewID(), database.NewID())
	_, nul := pool.Exec(ctx, `SELECT $1::text`, "a\x00b")
	_, jsonNul := pool.Exec(ctx, `SELECT '{"a":"\u0000"}'::jsonb`)
	expired, cancel := context.WithDeadline(ctx, time.Unix(1, 0))
	defer cancel()
	_, timeout := pool.Exec(expired, `SELECT 1`)
	_, refused := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:1/none?connect_timeout=5")
	closed, _ := pgtest.New(t)
	closed.Close()
	_, closedPool := closed.Exec(ctx, `SELECT 1`)
	_, syntax := pool.Exec(ctx, `SELEC 1`)

	for _, c := range []struct {
		name string
		err  error
		want classes
	}{
		{"no rows", noRows, classes{noRows: true}},
		{"duplicate email", duplicateEmail, classes{unique: true, uniqueEmail: true}},
		{"duplicate id", duplicateID, classes{unique: true}},
		{"owner gone", userGone, classes{foreignKey: true, userGone: true}},
		{"conversation gone", convGone, classes{foreignKey: true}},
		{"NUL in text", nul, classes{unstorable: true}},
		{"NUL in jsonb", jsonNul, classes{unstorable: true}},
		{"deadline", timeout, classes{unavailable: true}},
		{"connection refused", refused, classes{unavailable: true}},
		{"closed pool", closedPool, classes{unavailable: true}},
		{"shutting down", &pgconn.PgError{Code: "57P01"}, classes{unavailable: true}},
		{"too many connections", &pgconn.PgError{Code: "53300"}, classes{unavailable: true}},
		{"connection failure", &pgconn.PgError{Code: "08006"}, classes{unavailable: true}},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, classes{}},
		{"syntax error", syntax, classes{}},
		{"plain", errors.New("boom"), classes{}},
		{"nil", nil, classes{}},
	} {
		if c.err == nil && c.name != "nil" {
			t.Errorf("%s: the statement did not fail", c.name)
			continue
		}
		wrapped := c.err
		if c.err != nil {
			wrapped = fmt.Errorf("create conversation: %w", c.err)
		}
		if got := classify(wrapped); got != c.want {
			t.Errorf("%s (%v):\n got %+v\nwant %+v", c.name, c.err, got, c.want)
		}
	}
	if !errors.Is(closedPool, puddle.ErrClosedPool) {
		t.Errorf("a closed pool's error is not puddle.ErrClosedPool: %v", closedPool)
	}
}
