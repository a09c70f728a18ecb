// Package services builds the process's parts from the configuration, in one place: the
// handler sets of each tag, the reply manager, the notification listener, the rate limiter
// and the authenticator; and it owns every periodic job (start-up sweeps, interrupted
// replies, credential purges) with one shutdown path. It knows nothing of routes: package
// httpapi assembles the HTTP edge from what is built here.
package services

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/admin"
	"assistant/server/auth"
	"assistant/server/chat"
	"assistant/server/config"
	"assistant/server/exports"
	"assistant/server/files"
	"assistant/server/generation"
	"assistant/server/httpserver"
	"assistant/server/imports"
	"assistant/server/llm"
	"assistant/server/metrics"
	"assistant/server/notify"
	"assistant/server/ratelimit"
	"assistant/server/search"
	"assistant/server/shares"
	"assistant/server/storage"
	"assistant/server/system"
	"assistant/server/tracing"
	"assistant/server/usage"
)

// Deps are what the services need from the process.
type Deps struct {
	Config  config.Config
	Log     *slog.Logger
	Pool    *pgxpool.Pool
	Version string
	Started time.Time
	// Provider overrides the configured AI provider (tests use a fake one).
	Provider llm.Provider
	// Spec is the contract; BasePath where it is mounted (the limiter reads its marks).
	Spec     *openapi3.T
	BasePath string
}

// Services are the built parts. The handler sets together implement the strict server.
type Services struct {
	Health   *system.Health
	Accounts *accounts.Accounts
	Admin    *admin.Admin
	Chat     *chat.Chat
	Files    *files.Files
	Exports  *exports.Exports
	Usage    *usage.Usage
	Search   *search.Index
	Shares   *shares.Shares
	Imports  *imports.Imports

	Authenticator *auth.Authenticator
	Limiter       *ratelimit.Limiter
	// Generations runs the model's replies; serve drains it on shutdown.
	Generations *generation.Manager
	// Notify is the process's LISTEN connection for replies on other replicas.
	Notify *notify.Listener
	// Metrics are what the metrics listener serves; nil when METRICS_ADDR is not set
	// (nothing is recorded then).
	Metrics *metrics.Metrics
	// Tracing exports the request spans (a no-op without OTEL_EXPORTER_OTLP_ENDPOINT).
	Tracing *tracing.Tracing

	cfg  config.Config
	pool *pgxpool.Pool
	log  *slog.Logger
}

// LLM is the provider's part of the configuration.
func LLM(c config.Config) llm.Config {
	return llm.Config{Provider: c.LLMProvider, BaseURL: c.LLMBaseURL, APIKey: c.LLMAPIKey, Model: c.LLMModel,
		Timeout: c.LLMTimeout, EchoDelay: c.EchoDelay}
}

// RateLimit is the limiter's part of the configuration.
func RateLimit(c config.Config) ratelimit.Config {
	r := ratelimit.Config{Enabled: c.RateLimitEnabled, Requests: c.RateLimitAuthRequests, GlobalRequests: c.RateLimitGlobalRequests,
		Window: c.RateLimitAuthWindow, IPv6Prefix: c.RateLimitIPv6Prefix, KeyPrefix: c.RedisKeyPrefix, FailOpen: c.RateLimitFailOpen}
	if c.RateLimitBackend == "redis" {
		r.RedisURL = c.RedisURL
	}
	return r
}

// Metrics is the metrics' part of the configuration: the models that get a label of their
// own are those users may choose.
func Metrics(c config.Config, version string) metrics.Config {
	models := append([]string{c.LLMModel}, c.LLMModels...)
	return metrics.Config{Models: models, Version: version}
}

// Tracing is the tracer's part of the configuration.
func Tracing(c config.Config, version string) tracing.Config {
	return tracing.Config{Endpoint: c.OTLPEndpoint, SampleRatio: c.OTelSampleRatio, ServiceName: c.OTelServiceName, Version: version}
}

// HTTPServer is the HTTP server's part of the configuration.
func HTTPServer(c config.Config) httpserver.Config {
	return httpserver.Config{Addr: c.HTTPAddr, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout}
}

// S3 is the object store's part of the configuration.
func S3(c config.Config) storage.S3Config {
	return storage.S3Config{Endpoint: c.S3Endpoint, Region: c.S3Region, Bucket: c.S3Bucket, Prefix: c.S3Prefix,
		AccessKeyID: c.S3AccessKeyID, SecretAccessKey: c.S3SecretAccessKey, ForcePathStyle: c.S3ForcePathStyle}
}

// Stores opens where uploads and exports are kept: two directories, or two prefixes of one
// bucket (uploads/ and exports/ under S3_PREFIX).
func Stores(c config.Config) (uploads, exports storage.Store, err error) {
	if c.StorageBackend == "s3" {
		s, err := storage.NewS3(S3(c))
		if err != nil {
			return nil, nil, err
		}
		return s.Sub("uploads"), s.Sub("exports"), nil
	}
	u, err := storage.NewLocal(c.UploadDir)
	if err != nil {
		return nil, nil, err
	}
	e, err := storage.NewLocal(c.ExportDir)
	if err != nil {
		return nil, nil, err
	}
	return u, e, nil
}

// strictHandlers are the strict server's operation names.
var strictHandlers = func() map[string]bool {
	t := reflect.TypeFor[api.StrictServerInterface]()
	m := make(map[string]bool, t.NumMethod())
	for i := range t.NumMethod() {
		m[t.Method(i).Name] = true
	}
	return m
}()

// New builds every part. Close releases what they hold besides the pool.
func New(d Deps) (*Services, error) {
	cfg, log, pool := d.Config, d.Log, d.Pool
	var mt *metrics.Metrics
	if cfg.MetricsAddr != "" {
		mt = metrics.New(Metrics(cfg, d.Version))
		mt.WatchPool(pool)
	}
	traces, err := tracing.New(Tracing(cfg, d.Version))
	if err != nil {
		return nil, err
	}
	rl := RateLimit(cfg)
	rl.Metrics = mt
	limiter, err := ratelimit.New(rl, d.Spec, d.BasePath, func(name string) bool { return strictHandlers[name] }, log)
	if err != nil {
		return nil, errors.Join(err, traces.Shutdown(context.Background()))
	}
	queries := db.New()
	tokens := auth.NewTokens(cfg.JWTSecret, cfg.AccessTokenTTL)
	sessions := auth.NewSessionCache(100_000)
	provider := d.Provider
	if provider == nil {
		provider = llm.New(LLM(cfg))
	}
	uploads, exportStore, err := Stores(cfg)
	if err != nil {
		return nil, errors.Join(err, traces.Shutdown(context.Background()), limiter.Close())
	}
	// One listening connection per process, besides the pool, for news of replies running
	// on other replicas.
	listener := notify.Start(func(ctx context.Context) (*pgx.Conn, error) {
		return pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	}, log)
	generations := generation.NewManager(pool, queries, provider, cfg.CheckpointInterval, log)
	generations.SetNotify(listener)
	generations.SetMetrics(mt)

	s := &Services{Limiter: limiter, Generations: generations, Notify: listener, Metrics: mt, Tracing: traces, cfg: cfg, pool: pool, log: log}
	s.Authenticator = &auth.Authenticator{Tokens: tokens, DB: pool, Q: queries, Log: log, Sessions: sessions}
	s.Health = &system.Health{Version: d.Version, Started: d.Started, Database: pool.Ping, Redis: limiter.RedisCheck(),
		Storage: func(ctx context.Context) error { return errors.Join(uploads.Check(ctx), exportStore.Check(ctx)) },
		Timeout: cfg.HealthCheckTimeout, Log: log}
	s.Files = &files.Files{DB: pool, Q: queries, Store: uploads, MaxUpload: cfg.MaxUploadBytes,
		Quota: cfg.UserStorageQuotaBytes, PerUser: cfg.UploadsPerUser, Metrics: mt, Log: log}
	s.Exports = &exports.Exports{DB: pool, Q: queries, Store: exportStore, MaxMessages: cfg.ExportMaxMessages,
		MaxBytes: cfg.ExportMaxBytes, Quota: cfg.UserStorageQuotaBytes, Timeout: cfg.ExportTimeout, Metrics: mt, Log: log}
	s.Accounts = &accounts.Accounts{
		DB: pool,
		Q:  queries,
		Passwords: auth.NewPasswords(auth.Argon2Params{MemoryKiB: cfg.Argon2MemoryKiB, Time: cfg.Argon2Time}, cfg.PasswordHashConcurrency).
			WithQueue(cfg.PasswordHashQueue),
		Tokens:            tokens,
		RefreshTTL:        cfg.RefreshTokenTTL,
		RegistrationMode:  cfg.RegistrationMode,
		SessionMaxAge:     cfg.SessionMaxAge,
		APIKeyDefaultTTL:  cfg.APIKeyDefaultTTL,
		APIKeyMaxTTL:      cfg.APIKeyMaxTTL,
		NeverExpiringKeys: cfg.AppEnv != config.Production,
		IPv6Prefix:        cfg.RateLimitIPv6Prefix,
		Sessions:          sessions,
		Files:             s.Files,
		Exports:           s.Exports,
		Metrics:           mt,
		Log:               log,
	}
	s.Admin = &admin.Admin{DB: pool, Q: queries, InviteTTL: cfg.InviteTTL, ResetTTL: cfg.PasswordResetTTL,
		Sessions: sessions, Accounts: s.Accounts, Log: log}
	s.Usage = &usage.Usage{DB: pool, Q: queries, Provider: provider, Models: cfg.LLMModels, MaxTokens: cfg.LLMMaxTokens,
		DailyBudget: cfg.UserDailyTokenBudget, Log: log}
	s.Chat = &chat.Chat{
		DB:             pool,
		Q:              queries,
		Generations:    generations,
		Files:          s.Files,
		Spending:       s.Usage,
		ContextTokens:  cfg.LLMContextTokens,
		PerUser:        cfg.GenerationsPerUser,
		StreamsPerUser: cfg.SSEStreamsPerUser,
		Heartbeat:      cfg.SSEHeartbeat,
		Notify:         listener,
		Metrics:        mt,
		Log:            log,
	}
	s.Search = &search.Index{DB: pool, Q: queries, Language: cfg.SearchLanguage, Log: log}
	if err := s.Search.Check(context.Background()); err != nil {
		return nil, errors.Join(err, traces.Shutdown(context.Background()), limiter.Close(), listener.Close())
	}
	s.Shares = &shares.Shares{DB: pool, Q: queries, MaxMessages: cfg.ExportMaxMessages, MaxBytes: cfg.ExportMaxBytes, Log: log}
	s.Imports = &imports.Imports{DB: pool, Q: queries, MaxUpload: cfg.MaxUploadBytes, Timeout: cfg.UploadTimeout, Log: log}
	return s, nil
}

// ExportsRunning is the number of export renders in progress (a render whose request gave
// up counts until it has stopped).
func (s *Services) ExportsRunning() int64 { return s.Exports.Running() }

// Close releases what the services hold besides the pool: the rate limiter's Redis client,
// the listening connection, and the trace exporter (after sending what it holds, for at
// most 5 s).
func (s *Services) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(s.Limiter.Close(), s.Notify.Close(), s.Tracing.Shutdown(ctx))
}
