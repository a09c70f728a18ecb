package accounts

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/metrics"
	"assistant/server/middleware"
	"assistant/server/secevent"
)

// Login back-off: after freeLoginFailures failed attempts on an email, each next attempt
// waits twice as long as the one before, up to maxLoginBackoff, unless it comes from the
// network the account last signed in from. A stranger can slow an account's logins from
// elsewhere, never lock its owner out at home; and guessing is bounded to a few tries an
// hour per account, however many addresses the guesser has.
const (
	freeLoginFailures = 5
	maxLoginBackoff   = 15 * time.Minute
)

func loginBackoff(failures int32) time.Duration {
	if failures < freeLoginFailures {
		return 0
	}
	n := failures - freeLoginFailures
	if n >= 10 {
		return maxLoginBackoff
	}
	return min(time.Second<<n, maxLoginBackoff)
}

// Login checks the password and starts a session. An unknown email is verified against a
// dummy hash, so both failures cost the same and answer the same; a disabled account too.
func (h *Accounts) Login(ctx context.Context, req api.LoginRequestObject) (api.LoginResponseObject, error) {
	email := NormalizeEmail(string(req.Body.Email))
	u, err := h.Q.GetUserByEmail(ctx, h.DB, email)
	if err != nil && !database.IsNoRows(err) {
		return nil, err
	}
	network := middleware.Network(middleware.ClientIP(ctx), h.IPv6Prefix)
	failures, err := h.reserveAttempt(ctx, email, u, network)
	if err != nil {
		return nil, err
	}
	ok, err := h.Passwords.Verify(ctx, u.PasswordHash, req.Body.Password)
	if err != nil {
		return nil, err
	}
	if !ok || u.DisabledAt != nil {
		secevent.Log(ctx, h.Log, secevent.LoginFailed, u.ID, slog.Bool("known_email", u.PasswordHash != ""),
			slog.Bool("disabled", u.DisabledAt != nil), slog.Int("failures", int(failures)))
		return nil, errInvalidCredentials
	}
	session, err := h.issueSession(ctx, h.DB, u, database.NewID(), time.Now().Add(h.SessionMaxAge))
	if err != nil {
		return nil, err
	}
	if err := h.Q.ClearLoginAttempts(ctx, h.DB, email); err != nil {
		h.Log.ErrorContext(ctx, "clear failed logins", slog.Any("error", err))
	}
	h.rememberNetwork(ctx, u.ID, network)
	secevent.Log(ctx, h.Log, secevent.LoginSucceeded, u.ID)
	return api.Login200JSONResponse{Body: session}, nil
}

// rememberNetwork records the network the owner signs in from (at login, registration and
// password reset): the login back-off spares it.
func (h *Accounts) rememberNetwork(ctx context.Context, id uuid.UUID, network string) {
	if err := h.Q.LoginSucceeded(ctx, h.DB, &network, id); err != nil {
		h.Log.ErrorContext(ctx, "remember the login network", slog.Any("error", err))
	}
}

// reserveAttempt counts this attempt on the email before the password is checked, so that
// attempts sent at once cannot all pass a back-off read before any is counted; in the
// back-off it is the 429. The owner's own network is counted but never held back.
func (h *Accounts) reserveAttempt(ctx context.Context, email string, u db.User, network string) (int32, error) {
	exempt := u.LastLoginNet != nil && *u.LastLoginNet == network
	n, err := h.Q.ReserveLoginAttempt(ctx, h.DB, db.ReserveLoginAttemptParams{
		Email: email, Exempt: exempt, Free: freeLoginFailures, MaxBackoffS: maxLoginBackoff.Seconds(),
	})
	if err == nil {
		return n, nil
	}
	if !database.IsNoRows(err) {
		return 0, err
	}
	wait := time.Second
	if a, err := h.Q.GetLoginAttempts(ctx, h.DB, email); err == nil {
		wait = max(time.Until(a.FailedAt.Add(loginBackoff(a.Failures))), time.Second)
	}
	secevent.Log(ctx, h.Log, secevent.LoginThrottled, u.ID, slog.Int64("retry_after_s", int64(wait.Seconds())))
	h.Metrics.RateLimited(metrics.RuleLoginBackoff)
	return 0, apierr.New(http.StatusTooManyRequests, api.ErrorBodyCodeRateLimited,
		"too many failed sign-ins for this account; try again later").WithRetryAfter(wait)
}

var errRefreshInvalid = apierr.ErrUnauthorized.WithMessage("the refresh token is invalid, expired or already used")

// RefreshSession rotates a refresh token. Using an already rotated token again revokes
// its whole family, the newest token included: either the client or a thief is replaying
// it, and the server cannot tell which. Rotation, reuse detection and logout of one family
// hold the family's lock, so a replay racing a rotation cannot leave a token alive.
func (h *Accounts) RefreshSession(ctx context.Context, req api.RefreshSessionRequestObject) (api.RefreshSessionResponseObject, error) {
	hash := auth.HashSecret(req.Body.RefreshToken)
	var session api.Session
	var reused *db.RefreshToken
	err := database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		rt, err := h.lockedToken(ctx, tx, hash)
		if err != nil {
			return err
		}
		now := time.Now()
		switch {
		case rt.RevokedAt != nil:
			return errRefreshInvalid
		case rt.RotatedAt != nil:
			if _, err := h.Q.RevokeRefreshFamily(ctx, tx, rt.FamilyID); err != nil {
				return err
			}
			reused = &rt
			return nil // commit the revocation, then answer 401
		case !rt.ExpiresAt.After(now), !rt.SessionExpiresAt.After(now):
			return errRefreshInvalid
		}
		u, err := h.Q.GetUser(ctx, tx, rt.UserID)
		if err != nil {
			return err
		}
		if u.DisabledAt != nil {
			return errRefreshInvalid
		}
		if err := h.Q.MarkRefreshTokenRotated(ctx, tx, rt.ID); err != nil {
			return err
		}
		session, err = h.issueSession(ctx, tx, u, rt.FamilyID, rt.SessionExpiresAt)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused != nil {
		h.Sessions.ForgetUser(reused.UserID)
		secevent.Log(ctx, h.Log, secevent.RefreshReuseDetected, reused.UserID, slog.String("family_id", reused.FamilyID.String()))
		return nil, errRefreshInvalid
	}
	return api.RefreshSession200JSONResponse{Body: session}, nil
}

// lockedToken finds the token, takes its family's lock and its user's, and reads the token
// again under them (a rotation, or a revocation of every session, that committed while this
// waited is then seen). No such token is the 401.
func (h *Accounts) lockedToken(ctx context.Context, tx pgx.Tx, hash []byte) (db.RefreshToken, error) {
	rt, err := h.Q.GetRefreshToken(ctx, tx, hash)
	if database.IsNoRows(err) {
		return rt, errRefreshInvalid
	}
	if err != nil {
		return rt, err
	}
	if err := h.Q.LockRefreshFamily(ctx, tx, rt.FamilyID); err != nil {
		return rt, err
	}
	if err := h.Q.LockUserSessions(ctx, tx, rt.UserID); err != nil {
		return rt, err
	}
	return h.Q.GetRefreshToken(ctx, tx, hash)
}

// Logout revokes the token's session; the session's access tokens stop working within a
// second. Unknown tokens are not an error: the outcome the client wants, no usable
// session, holds either way.
func (h *Accounts) Logout(ctx context.Context, req api.LogoutRequestObject) (api.LogoutResponseObject, error) {
	var ended *db.RefreshToken
	err := database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		rt, err := h.lockedToken(ctx, tx, auth.HashSecret(req.Body.RefreshToken))
		if errors.Is(err, errRefreshInvalid) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := h.Q.RevokeRefreshFamily(ctx, tx, rt.FamilyID)
		if n > 0 {
			ended = &rt
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if ended != nil {
		h.Sessions.ForgetUser(ended.UserID)
		secevent.Log(ctx, h.Log, secevent.Logout, ended.UserID, slog.String("family_id", ended.FamilyID.String()))
	}
	return api.Logout204Response{}, nil
}
