// Package ratelimit limits the authentication operations (register, login, refresh) per
// client address, and login also per email, in process memory or in Redis so that several
// replicas share one limit. It uses go-chi/httprate's sliding-window counters.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/httprate"
	httprateredis "github.com/go-chi/httprate-redis"
	"github.com/redis/go-redis/v9"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/config"
	"assistant/server/middleware"
)

// Limiter holds the limits. The zero of Enabled means every method lets requests through.
type Limiter struct {
	enabled  bool
	perIP    *httprate.RateLimiter
	perEmail *httprate.RateLimiter
	redis    *redis.Client
	paths    map[string]bool
	log      *slog.Logger
}

// New builds the limiter from the configuration. basePath prefixes the limited paths.
func New(cfg config.Config, basePath string, log *slog.Logger) (*Limiter, error) {
	l := &Limiter{
		enabled: cfg.RateLimitEnabled,
		log:     log,
		paths: map[string]bool{
			basePath + "/auth/register": true,
			basePath + "/auth/login":    true,
			basePath + "/auth/refresh":  true,
		},
	}
	if !l.enabled {
		return l, nil
	}
	ipOpts := []httprate.Option{httprate.WithLimitHandler(l.onLimited), httprate.WithErrorHandler(l.onError)}
	emailOpts := []httprate.Option{httprate.WithLimitHandler(l.onLimited), httprate.WithErrorHandler(l.onError)}
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
		ipOpts = append(ipOpts, counter("ip"))
		emailOpts = append(emailOpts, counter("email"))
	}
	l.perIP = httprate.NewRateLimiter(cfg.RateLimitAuthRequests, cfg.RateLimitAuthWindow, ipOpts...)
	l.perEmail = httprate.NewRateLimiter(cfg.RateLimitAuthRequests, cfg.RateLimitAuthWindow, emailOpts...)
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

// Middleware limits the limited operations per client address (never ip:port: a new
// connection is the same client). It runs before validation, so malformed requests count.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if !l.enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && l.paths[r.URL.Path] {
			key := r.URL.Path + "|" + middleware.ClientIP(r.Context()).String()
			if l.perIP.RespondOnLimit(w, r, key) {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// StrictMiddleware limits login per normalised email, which needs the validated body:
// spreading attempts on one account over many addresses still hits this limit.
func (l *Limiter) StrictMiddleware(f api.StrictHandlerFunc, operationID string) api.StrictHandlerFunc {
	if !l.enabled || operationID != "Login" {
		return f
	}
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		if req, ok := request.(api.LoginRequestObject); ok && req.Body != nil {
			key := "login|" + strings.ToLower(strings.TrimSpace(string(req.Body.Email)))
			if l.perEmail.RespondOnLimit(w, r, key) {
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
