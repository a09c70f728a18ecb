package accounts

import (
	"context"
	"errors"
	"fmt"

	"assistant/gen/db"
)

// Purged counts what one Purge removed.
type Purged struct {
	RefreshTokens, Invites, PasswordResets, LoginAttempts int64
}

// Purge removes credentials that can no longer be used: refresh tokens a day after they
// expired, were revoked or their session ended; invitations a day after they expired or
// were used; reset tokens that expired; login failures (the back-off) older than a day. Each delete runs on its own, so one failure does
// not keep the others from running; the error joins the failures.
func Purge(ctx context.Context, conn db.DBTX, q *db.Queries) (Purged, error) {
	var p Purged
	var errs []error
	var err error
	if p.RefreshTokens, err = q.DeleteExpiredRefreshTokens(ctx, conn); err != nil {
		errs = append(errs, fmt.Errorf("refresh tokens: %w", err))
	}
	if p.Invites, err = q.DeleteStaleInvites(ctx, conn); err != nil {
		errs = append(errs, fmt.Errorf("invitations: %w", err))
	}
	if p.PasswordResets, err = q.DeleteExpiredPasswordResets(ctx, conn); err != nil {
		errs = append(errs, fmt.Errorf("password resets: %w", err))
	}
	if p.LoginAttempts, err = q.DeleteStaleLoginAttempts(ctx, conn); err != nil {
		errs = append(errs, fmt.Errorf("login attempts: %w", err))
	}
	return p, errors.Join(errs...)
}
