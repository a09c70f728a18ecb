// Package ratelimit limits the authentication operations (register, login, refresh,
// password reset) and the public reads of share links per client network and over all
// clients together, and every operation that checks a signed-in user's password per
// account; in process memory or in Redis so that several replicas share one limit. It uses go-chi/httprate's sliding-window counters. (The
// login back-off per email lives with the accounts: it needs to know the owner's network.)
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"
	httprateredis "github.com/go-chi/httprate-redis"
	"github.com/redis/go-redis/v9"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/metrics"
	"assistant/server/middleware"
)

// Config sets the limits.
type Config struct {
	Enabled bool
	// Requests per Window, per client network and per account; GlobalRequests per Window
	// per operation over all clients.
	Requests, GlobalRequests int
	Window                   time.Duration
	// IPv6Prefix is the network an IPv6 client counts as.
	IPv6Prefix int
	// RedisURL, when set, shares the counters between replicas (under KeyPrefix); with
	// FailOpen, an unreachable Redis falls back to process memory, else to 503.
	RedisURL, KeyPrefix string
	FailOpen            bool
	// Metrics count the refusals by rule (nil: not counted).
	Metrics *metrics.Metrics
}

// Limiter holds the limits. With Enabled false every method lets requests through.
type Limiter struct {
	enabled    bool
	perNetwork *httprate.RateLimiter
	global     *httprate.RateLimiter
	perAccount *httprate.RateLimiter
	v6Bits     int
	redis      *redis.Client
	// clients are the "METHOD /route/{param}" of operations marked x-rate-limit: client; accounts
	// the strict handler names of those marked x-rate-limit: account.
	clients  map[string]bool
	accounts map[string]bool
	log      *slog.Logger
	metrics  *metrics.Metrics
}

// The spec marks what is limited (x-rate-limit on an operation): "client" is limited per
// client network and over all clients (sign-up, sign-in, refresh, password reset, and the
// public read of a share link, which needs no account); "account"
// per signed-in account (the operations that check the current password: each is a guess at
// it, so they share one limit whatever the credentials or addresses used).
const (
	extension      = "x-rate-limit"
	perClient      = "client"
	perAccountMark = "account"
)

// checksPassword says whether an account-limited request checks the password this time:
// updateMe only when it changes the email.
func checksPassword(request any) bool {
	if req, ok := request.(api.UpdateMeRequestObject); ok {
		return req.Body != nil && req.Body.Email != nil
	}
	return true
}

// New builds the limiter for the operations of spec mounted under basePath. handlers are
// the strict server's operation names (the methods of api.StrictServerInterface): an
// account-limited operation the server does not have is an error at start-up, so renaming
// an operation cannot silently drop its limit.
func New(cfg Config, spec *openapi3.T, basePath string, handlers func(name string) bool, log *slog.Logger) (*Limiter, error) {
	l := &Limiter{enabled: cfg.Enabled, v6Bits: cfg.IPv6Prefix, log: log, metrics: cfg.Metrics, clients: map[string]bool{}, accounts: map[string]bool{}}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			switch mark, _ := op.Extensions[extension].(string); mark {
			case "":
			case perClient:
				l.clients[method+" "+basePath+path] = true
			case perAccountMark:
				name := handlerName(op.OperationID)
				if !handlers(name) {
					return nil, fmt.Errorf("%s %s: operation %q has no handler %s", extension, mark, op.OperationID, name)
				}
				l.accounts[name] = true
			default:
				return nil, fmt.Errorf("operation %q: unknown %s %q", op.OperationID, extension, mark)
			}
		}
	}
	if !l.enabled {
		return l, nil
	}
	opts := func(rule string) []httprate.Option {
		return []httprate.Option{httprate.WithLimitHandler(l.onLimited(rule)), httprate.WithErrorHandler(l.onError)}
	}
	networkOpts, globalOpts, accountOpts := opts(metrics.RuleClientNetwork), opts(metrics.RuleGlobal), opts(metrics.RuleAccount)
	if cfg.RedisURL != "" {
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
				PrefixKey:        cfg.KeyPrefix + "ratelimit:" + prefix,
				WindowLength:     cfg.Window,
				FallbackDisabled: !cfg.FailOpen,
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
	l.perNetwork = httprate.NewRateLimiter(cfg.Requests, cfg.Window, networkOpts...)
	l.global = httprate.NewRateLimiter(cfg.GlobalRequests, cfg.Window, globalOpts...)
	l.perAccount = httprate.NewRateLimiter(cfg.Requests, cfg.Window, accountOpts...)
	return l, nil
}

// handlerName is oapi-codegen's name for an operation id: its first letter upper-cased.
func handlerName(operationID string) string {
	if operationID == "" {
		return ""
	}
	return strings.ToUpper(operationID[:1]) + operationID[1:]
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
// clients. It runs before validation, so malformed requests count. It tells the operation
// by the route chi matched ("/api/v1/public/shares/{token}", not the path requested), so it
// must run after routing (in a chi group, as the validator does): every token of a templated
// path counts against one limit.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if !l.enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc := chi.RouteContext(r.Context()); rc != nil {
			if route := rc.RoutePattern(); l.clients[r.Method+" "+route] {
				key := route + "|" + middleware.Network(middleware.ClientIP(r.Context()), l.v6Bits)
				if l.perNetwork.RespondOnLimit(w, r, key) || l.global.RespondOnLimit(w, r, route) {
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// StrictMiddleware limits the password checks of signed-in users per account, which needs
// the authenticated principal and the validated body.
func (l *Limiter) StrictMiddleware(f api.StrictHandlerFunc, operationID string) api.StrictHandlerFunc {
	if !l.enabled || !l.accounts[operationID] {
		return f
	}
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		if p, ok := auth.FromContext(ctx); ok && checksPassword(request) {
			if l.perAccount.RespondOnLimit(w, r, "password|"+p.UserID.String()) {
				return nil, nil // the envelope is written
			}
		}
		return f(ctx, w, r, request)
	}
}

// onLimited answers a request refused by the limit of rule (metrics.RuleClientNetwork, ...).
func (l *Limiter) onLimited(rule string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The route, not the path: a path may carry a secret (a share link's token).
		route := r.URL.Path
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		l.log.InfoContext(r.Context(), "rate limited", slog.String("route", route), slog.String("rule", rule))
		l.metrics.RateLimited(rule)
		apierr.Write(w, r, l.log, apierr.New(http.StatusTooManyRequests, api.ErrorBodyCodeRateLimited, "too many requests; try again later"))
	}
}

// onError runs when the counter fails and no fallback is allowed (RATE_LIMIT_FAIL_OPEN=false).
func (l *Limiter) onError(w http.ResponseWriter, r *http.Request, err error) {
	apierr.Write(w, r, l.log, apierr.ErrUnavailable.Wrap(fmt.Errorf("rate limiter: %w", err)))
}
