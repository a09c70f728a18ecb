// Package secevent writes the security events (sign-ins and their failures, credential and
// account changes, admin actions): one structured log line each, with the event name, the
// account, the client address and the request id, and never a secret.
package secevent

import (
	"context"
	"log/slog"

	"github.com/google/uuid"

	"assistant/server/logging"
	"assistant/server/middleware"
)

// Names of the events; dashboards and alerts match on them.
const (
	LoginSucceeded       = "login_succeeded"
	LoginFailed          = "login_failed"
	LoginThrottled       = "login_throttled"
	Registered           = "registered"
	Logout               = "logout"
	RefreshReuseDetected = "refresh_reuse_detected"
	PasswordChanged      = "password_changed"
	PasswordCheckFailed  = "password_check_failed"
	PasswordReset        = "password_reset"
	EmailChanged         = "email_changed"
	APIKeyCreated        = "api_key_created"
	APIKeyDeleted        = "api_key_deleted"
	ShareCreated         = "share_created"
	ShareRevoked         = "share_revoked"
	AccountDeleted       = "account_deleted"
	APIKeyForbidden      = "api_key_forbidden"
	AdminForbidden       = "admin_forbidden"
	AdminUserUpdated     = "admin_user_updated"
	AdminUserDeleted     = "admin_user_deleted"
	AdminResetIssued     = "admin_password_reset_issued"
	AdminInviteCreated   = "admin_invite_created"
	AdminInviteDeleted   = "admin_invite_deleted"
	UserCreatedByCLI     = "user_created_by_cli"
)

// Log writes one security event about the account userID (uuid.Nil: none known). The
// line's user_id is the account; when the request was made by another (an admin), the line
// carries the actor as user_id and the account as target_user_id. attrs add detail (a key
// id), never a password, token or key.
func Log(ctx context.Context, log *slog.Logger, event string, userID uuid.UUID, attrs ...slog.Attr) {
	all := make([]slog.Attr, 0, len(attrs)+3)
	all = append(all, slog.String("event", event))
	if userID != uuid.Nil {
		switch actor := logging.UserID(ctx); actor {
		case "":
			all = append(all, slog.String("user_id", userID.String()))
		case userID.String():
			// the context handler adds it
		default:
			all = append(all, slog.String("target_user_id", userID.String()))
		}
	}
	if ip := middleware.ClientIP(ctx); ip.IsValid() {
		all = append(all, slog.String("client_ip", ip.String()))
	}
	all = append(all, attrs...)
	log.LogAttrs(ctx, slog.LevelInfo, "security event", all...)
}
