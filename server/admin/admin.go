// Package admin implements the operator's operations: accounts (list, disable, role,
// delete, password-reset links) and invitations. Only admins reach them (the spec's
// x-role on each operation, enforced by the authenticator), so the handlers do not check
// the role again.
package admin

import (
	"log/slog"
	"strings"
	"time"

	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/auth"
	"assistant/server/database"
)

// Prefixes of the opaque secrets this package issues (only their hashes are stored).
const (
	InvitePrefix        = "inv_"
	PasswordResetPrefix = "pr_"
)

// Admin implements the admin operations of the strict server.
type Admin struct {
	DB database.DB
	Q  *db.Queries
	// InviteTTL is an invitation's lifetime when the admin names none; ResetTTL a
	// password-reset token's.
	InviteTTL time.Duration
	ResetTTL  time.Duration
	// Accounts removes what a deleted account owns on disk (as DELETE /users/me does).
	Accounts *accounts.Accounts
	// Sessions is the authenticator's cache of session states, told at once when an
	// account is disabled, demoted or deleted.
	Sessions *auth.SessionCache
	Log      *slog.Logger
}

// likeContains is the ILIKE pattern matching q anywhere: its metacharacters (% _ and the
// escape character \) match only themselves.
func likeContains(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}
