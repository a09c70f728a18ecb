// Package ratelimit limits the authentication operations (register, login, refresh,
// password reset) per client network and over all clients together, and every operation
// that checks a signed-in user's password per account; in process memory or in Redis so that
// several replicas share one limit. It uses go-chi/httprate's sliding-window counters. (The
// login back-off per email lives with the accounts: it needs to know the owner's network.)
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/httprate"
	httprateredis "github.com/go-chi/httprate-redis"
	"github.com/redis/go-redis/v9"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/config"
	"assistant/server/middleware"
)

// Limiter holds the limits. The zero of Enabled means every method lets requests through.
type Limiter struct {
	enabled    bool
	perNetwork *httprate.RateLimiter
	global     *httprate.RateLimiter
	perAccount *httprate.RateLimiter
	v6Bits     int
	redis      *redis.Client
	paths      map[string]bool
	log        *slog.Logger
}

// passwordChecks are the operations of a signed-in user that verify the current password
// (UpdateMe only when it changes the email): each is a guess at the password, so they share
// one limit per account whatever the credentials or addresses used.
var passwordChecks = map[string]func(request any) bool{
	"ChangePassword": func(any) bool { return true },
	"CreateApiKey":   func(any) bool { return true },
	"UpdateMe": func(request any) bool {
		req, ok := request.(api.UpdateMeRequestObject)
		return ok && req.Body != nil && req.Body.Email != nil
	},
}

// New builds the limiter from the configuration. basePath prefixes the limited paths.
func New(cfg config.Config, basePath string, log *slog.Logger) (*Limiter, error) {
	l := &Limiter{
		enabled: cfg.RateLimitEnabled,
		v6Bits:  cfg.RateLimitIPv6Prefix,
		log:     log,
		paths: map[string]bool{
			basePath + "/auth/register":       true,
			basePath + "/auth/login":          true,
			basePath + "/auth/refresh":        true,
			basePath + "/auth/password-reset": true,
		},
	}
	if !l.enabled {
		return l, nil
	}
	opts := func() []httprate.Option {
		return []httprate.Option{httprate.WithLimitHandler(l.onLimited), httprate.WithErrorHandler(l.onError)}
	}
	networkOpts, globalOpts, accountOpts := opts(), opts(), opts()
	if cfg.RateLimitBackend == "redis" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		// Short timeouts and no retries: a slow Redis must not slow every login down.
		opts.DialTimeout = 500 * time.Millisecond
		opts.ReadTimeout = 250 * time.Millisecond
		opts.WriteTimeout = 250 * time.Millisecond
		opts.MaxRetries = -1
		opts.DisableIdentity = true
		l.redis = redis.NewClient(opts)
		counter := func(prefix string) httprate.Option {
			return httprateredis.WithRedisLimitCounter(&httprateredis.Config{
				Client:           l.redis,
				PrefixKey:        cfg.RedisKeyPrefix + "ratelimit:" + prefix,
				WindowLength:     cfg.RateLimitAuthWindow,
				FallbackDisabled: !cfg.RateLimitFailOpen,
				FallbackTimeout:  250 * time.Millisecond,
				OnFallbackChange: func(active bool) {
					if active {
						log.Error("rate limiter: Redis unreachable; limiting in process memory until it is back", slog.String("limit", prefix))
					} else {
						log.Info("rate limiter: Redis is back", slog.String("limit", prefix))
					}
				},
			})
		}
		networkOpts = append(networkOpts, counter("ip"))
		globalOpts = append(globalOpts, counter("global"))
		accountOpts = append(accountOpts, counter("account"))
	}
	l.perNetwork = httprate.NewRateLimiter(cfg.RateLimitAuthRequests, cfg.RateLimitAuthWindow, networkOpts...)
	l.global = httprate.NewRateLimiter(cfg.RateLimitGlobalRequests, cfg.RateLimitAuthWindow, globalOpts...)
	l.perAccount = httprate.NewRateLimiter(cfg.RateLimitAuthRequests, cfg.RateLimitAuthWindow, accountOpts...)
	return l, nil
}

// Close releases the Redis connections.
func (l *Limiter) Close() error {
	if l.redis != nil {
		return l.redis.Close()
	}
	return nil
}

// RedisCheck is the health check of the Redis backend, or nil without one.
func (l *Limiter) RedisCheck() func(context.Context) error {
	if l.redis == nil {
		return nil
	}
	return func(ctx context.Context) error { return l.redis.Ping(ctx).Err() }
}

// Middleware limits the limited operations per client network (an IPv4 address, an IPv6
// /64 by default; never ip:port: a new connection is the same client), then over all
// clients. It runs before validation, so malformed requests count.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if !l.enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && l.paths[r.URL.Path] {
			key := r.URL.Path + "|" + middleware.Network(middleware.ClientIP(r.Context()), l.v6Bits)
			if l.perNetwork.RespondOnLimit(w, r, key) || l.global.RespondOnLimit(w, r, r.URL.Path) {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// StrictMiddleware limits the password checks of signed-in users per account, which needs
// the authenticated principal and the validated body.
func (l *Limiter) StrictMiddleware(f api.StrictHandlerFunc, operationID string) api.StrictHandlerFunc {
	checks, ok := passwordChecks[operationID]
	if !l.enabled || !ok {
		return f
	}
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		if p, ok := auth.FromContext(ctx); ok && checks(request) {
			if l.perAccount.RespondOnLimit(w, r, "password|"+p.UserID.String()) {
				return nil, nil // the envelope is written
			}
		}
		return f(ctx, w, r, request)
	}
}

func (l *Limiter) onLimited(w http.ResponseWriter, r *http.Request) {
	l.log.InfoContext(r.Context(), "rate limited", slog.String("path", r.URL.Path))
	apierr.Write(w, r, l.log, apierr.New(http.StatusTooManyRequests, api.ErrorBodyCodeRateLimited, "too many requests; try again later"))
}

// onError runs when the counter fails and no fallback is allowed (RATE_LIMIT_FAIL_OPEN=false).
func (l *Limiter) onError(w http.ResponseWriter, r *http.Request, err error) {
	e := *apierr.ErrUnavailable
	e.Cause = fmt.Errorf("rate limiter: %w", err)
	apierr.Write(w, r, l.log, &e)
}
