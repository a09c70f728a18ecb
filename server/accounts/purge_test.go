package accounts_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/database"
	"assistant/server/testutil/pgtest"
)

// The periodic purge removes the credentials that can no longer be used (a day after
// they expired, were revoked or used; login failures older than a day) and keeps every live
// one, and the recently dead ones that still tell a reuse.
func TestPurgeRemovesDeadCredentialsOnly(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	q := db.New()
	u, err := q.CreateUser(ctx, pool, db.CreateUserParams{ID: database.NewID(), Email: "ada@example.com", DisplayName: "Ada", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// name → whether the purge must keep it
	refresh := map[string]bool{
		"live":                  true,
		"expired an hour ago":   true,
		"revoked an hour ago":   true,
		"expired two days ago":  false,
		"revoked two days ago":  false,
		"session ended 2d ago":  false,
		"rotated, still usable": true,
	}
	refreshSQL := map[string]string{
		"live":                  "now() + interval '30 days', NULL, now() + interval '90 days', NULL",
		"expired an hour ago":   "now() - interval '1 hour', NULL, now() + interval '90 days', NULL",
		"revoked an hour ago":   "now() + interval '30 days', now() - interval '1 hour', now() + interval '90 days', NULL",
		"expired two days ago":  "now() - interval '2 days', NULL, now() + interval '90 days', NULL",
		"revoked two days ago":  "now() + interval '30 days', now() - interval '2 days', now() + interval '90 days', NULL",
		"session ended 2d ago":  "now() + interval '30 days', NULL, now() - interval '2 days', NULL",
		"rotated, still usable": "now() + interval '30 days', NULL, now() + interval '90 days', now() - interval '2 days'",
	}
	refreshIDs := map[string]uuid.UUID{}
	for name, vals := range refreshSQL {
		id := database.NewID()
		refreshIDs[name] = id
		exec(`INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, revoked_at, session_expires_at, rotated_at)
			SELECT $1, $2, $3, $4, e, r::timestamptz, s, ro::timestamptz FROM (SELECT `+vals+`) AS v(e, r, s, ro)`, id, u.ID, database.NewID(), []byte(name))
	}
	invites := map[string]bool{
		"open":                 true,
		"expired an hour ago":  true,
		"used an hour ago":     true,
		"expired two days ago": false,
		"used two days ago":    false,
	}
	inviteSQL := map[string]string{
		"open":                 "now() + interval '7 days', NULL",
		"expired an hour ago":  "now() - interval '1 hour', NULL",
		"used an hour ago":     "now() + interval '7 days', now() - interval '1 hour'",
		"expired two days ago": "now() - interval '2 days', NULL",
		"used two days ago":    "now() + interval '7 days', now() - interval '2 days'",
	}
	inviteIDs := map[string]uuid.UUID{}
	for name, vals := range inviteSQL {
		id := database.NewID()
		inviteIDs[name] = id
		exec(`INSERT INTO invites (id, token_hash, created_by, expires_at, used_at)
			SELECT $1, $2, $3, e, us::timestamptz FROM (SELECT `+vals+`) AS v(e, us)`, id, []byte(name), u.ID)
	}
	resets := map[string]bool{"live": true, "expired": false}
	resetIDs := map[string]uuid.UUID{}
	for name, at := range map[string]string{"live": "now() + interval '1 day'", "expired": "now() - interval '1 minute'"} {
		id := database.NewID()
		resetIDs[name] = id
		exec(`INSERT INTO password_resets (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, `+at+`)`, id, u.ID, []byte(name))
	}

	exec(`INSERT INTO login_attempts (email, failures, failed_at) VALUES
		('stale@example.com', 3, now() - interval '2 days'), ('recent@example.com', 3, now() - interval '1 hour')`)

	got, err := accounts.Purge(ctx, pool, q)
	if err != nil {
		t.Fatal(err)
	}
	want := accounts.Purged{RefreshTokens: 3, Invites: 2, PasswordResets: 1, LoginAttempts: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("purged (-want +got):\n%s", diff)
	}
	check := func(table string, ids map[string]uuid.UUID, keep map[string]bool) {
		t.Helper()
		for name, id := range ids {
			var exists bool
			if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE id = $1)", id).Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if exists != keep[name] {
				t.Errorf("%s %q: exists=%v, want %v", table, name, exists, keep[name])
			}
		}
	}
	check("refresh_tokens", refreshIDs, refresh)
	check("invites", inviteIDs, invites)
	check("password_resets", resetIDs, resets)

	var attempts []string
	rows, _ := pool.Query(ctx, "SELECT email FROM login_attempts")
	for rows.Next() {
		var e string
		_ = rows.Scan(&e)
		attempts = append(attempts, e)
	}
	if rows.Err() != nil || len(attempts) != 1 || attempts[0] != "recent@example.com" {
		t.Errorf("login attempts left: %v, %v; want the recent one", attempts, rows.Err())
	}

	// Again: nothing left to remove.
	if got, err := accounts.Purge(ctx, pool, q); err != nil || got != (accounts.Purged{}) {
		t.Errorf("second purge: %+v, %v", got, err)
	}
}
