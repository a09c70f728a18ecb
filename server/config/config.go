// Package config reads the server's settings from the environment, once, into a typed
// struct. Every bad value is reported in one error, so an operator fixes them in one go.
package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	Development = "development"
	Production  = "production"
)

// Config holds every setting. Defaults are documented in .env.example.
type Config struct {
	AppEnv      string
	HTTPAddr    string
	DatabaseURL string
	LogLevel    slog.Level
	DocsEnabled bool

	// ShutdownTimeout bounds how long in-flight requests get to finish after SIGTERM.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout and WriteTimeout are the HTTP server's; routes that
	// stream (uploads, server-sent events) extend their own deadlines.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// CORSAllowedOrigins enables CORS for these origins; empty disables CORS.
	CORSAllowedOrigins []string
	// MaxJSONBodyBytes caps every request body that is not an upload.
	MaxJSONBodyBytes int64
	// HealthCheckTimeout bounds each dependency check of GET /health.
	HealthCheckTimeout time.Duration
	// DebugAddr, when set, serves net/http/pprof on its own listener (keep it on loopback or
	// a private network: never the public one).
	DebugAddr string
	// MetricsAddr, when set, serves the Prometheus metrics at /metrics on its own listener
	// (a private network only: never the public port, never through nginx).
	MetricsAddr string
	// OTLPEndpoint, when set, exports traces over OTLP/HTTP to this base URL (its
	// /v1/traces); OTelSampleRatio is the share of requests traced; OTelServiceName names
	// the process in the traces.
	OTLPEndpoint    string
	OTelSampleRatio float64
	OTelServiceName string

	// JWTSecret signs access tokens (HS256). In development a missing one is replaced by a
	// random secret per process; production refuses to start without a strong one.
	JWTSecret       []byte
	JWTSecretRandom bool
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// RegistrationMode: open (anyone), invite (with an admin's invitation) or closed.
	RegistrationMode string
	// SessionMaxAge ends a session (refresh-token family) however often it is rotated.
	SessionMaxAge time.Duration
	// APIKeyDefaultTTL is an API key's lifetime when the request names none; APIKeyMaxTTL
	// the longest allowed. Keys that never expire are refused in production.
	APIKeyDefaultTTL time.Duration
	APIKeyMaxTTL     time.Duration
	// InviteTTL is an invitation's lifetime when the admin names none; PasswordResetTTL a
	// password-reset token's.
	InviteTTL        time.Duration
	PasswordResetTTL time.Duration
	// Argon2 parameters for new password hashes (stored hashes carry their own).
	Argon2MemoryKiB uint32
	Argon2Time      uint32
	// PasswordHashConcurrency bounds simultaneous hash computations; PasswordHashQueue
	// bounds those waiting for one (a full queue is an immediate 503).
	PasswordHashConcurrency int
	PasswordHashQueue       int

	RateLimitEnabled      bool
	RateLimitBackend      string // memory | redis
	RateLimitAuthRequests int
	RateLimitAuthWindow   time.Duration
	// RateLimitGlobalRequests caps each limited operation over all clients in a window, so
	// a spray from many networks is bounded too.
	RateLimitGlobalRequests int
	// RateLimitIPv6Prefix is the network an IPv6 client is limited as (one /64 is one
	// subscriber); IPv4 clients are limited by address.
	RateLimitIPv6Prefix int
	// RateLimitFailOpen: with Redis unreachable, keep limiting in process memory (true) or
	// refuse the limited operations with 503 (false).
	RateLimitFailOpen bool
	RedisURL          string
	// RedisKeyPrefix starts every key this service writes, so deployments can share a Redis.
	RedisKeyPrefix string

	// LLMProvider is echo (offline, deterministic) or openai (any OpenAI-compatible API).
	LLMProvider  string
	LLMAllowEcho bool
	// LLMBaseURL includes the /v1 suffix, e.g. http://localhost:11434/v1 for Ollama.
	LLMBaseURL string
	LLMAPIKey  string
	LLMModel   string
	// LLMModels are the models users may choose; empty allows what the provider lists.
	LLMModels []string
	// LLMMaxTokens caps every reply's completion tokens.
	LLMMaxTokens int
	// UserDailyTokenBudget caps a user's tokens (prompt and completion) per UTC day; 0 is none.
	UserDailyTokenBudget int64
	// LLMTimeout bounds the wait for the provider's first and each next chunk.
	LLMTimeout time.Duration
	// LLMContextTokens is the budget for the system prompt and the history sent to the model
	// (estimated at four characters a token).
	LLMContextTokens int
	// EchoDelay is the echo provider's pause between words.
	EchoDelay time.Duration
	// GenerationsPerUser caps a user's concurrent generations.
	GenerationsPerUser int
	// SSEStreamsPerUser caps a user's open event streams (on this process).
	SSEStreamsPerUser int
	// SSEHeartbeat is the interval of ": ping" comments on event streams.
	SSEHeartbeat time.Duration
	// CheckpointInterval is how often a generation saves its partial text.
	CheckpointInterval time.Duration

	// StorageBackend is where files and exports are kept: local (UploadDir and ExportDir)
	// or s3 (one bucket shared by every replica; the S3 settings below).
	StorageBackend string
	// UploadDir and ExportDir hold uploaded files and exports (PDF, Markdown, JSON) with
	// STORAGE_BACKEND=local.
	UploadDir string
	ExportDir string
	// S3Endpoint is the S3 server's URL (its scheme decides TLS); S3Prefix starts every
	// object name, so deployments can share a bucket; S3ForcePathStyle addresses the bucket
	// as a path, as most servers other than AWS need.
	S3Endpoint        string
	S3Region          string
	S3Bucket          string
	S3Prefix          string
	S3AccessKeyID     string
	S3SecretAccessKey string
	S3ForcePathStyle  bool

	// SearchLanguage is the PostgreSQL text-search configuration of GET /search (simple:
	// words as written, lower-cased, in any language). Start-up checks that it exists.
	SearchLanguage string

	// Warnings are what start-up logs about the settings (a deprecated name in use).
	Warnings []string
	// MaxUploadBytes limits an uploaded file's own bytes.
	MaxUploadBytes int64
	// UserStorageQuotaBytes limits what one user's files and exports take together.
	UserStorageQuotaBytes int64
	// UploadsPerUser caps a user's concurrent uploads.
	UploadsPerUser int
	// UploadTimeout is how long one upload may take to arrive.
	UploadTimeout time.Duration
	// Exports are synchronous: at most this many messages and bytes of text, this long.
	ExportMaxMessages int
	ExportMaxBytes    int64
	ExportTimeout     time.Duration
}

// Deprecated are settings still read under an old name, with their new name: a deployment
// that sets one gets a warning at start-up (Config.Warnings), and they go in a later version.
var Deprecated = map[string]string{
	"PDF_DIR": "EXPORT_DIR",
}

// Retired are settings that are no longer read, with what replaced them: a deployment that
// still sets one is told, rather than silently getting a different behaviour.
var Retired = map[string]string{
	"REGISTRATION_ENABLED": "use REGISTRATION_MODE (open, invite or closed)",
}

// searchLanguage is what SEARCH_LANGUAGE may be: a PostgreSQL identifier, optionally
// schema-qualified (whether the configuration exists is checked against the database).
var searchLanguage = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$`)

// s3Bucket is what S3_BUCKET may be: S3's rules for a bucket name.
var s3Bucket = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Getenv is os.Getenv's shape; tests pass a map-backed one.
type Getenv func(string) string

// Load reads and validates the configuration. The error lists every bad value.
func Load(getenv Getenv) (Config, error) {
	p := parser{getenv: getenv}
	var c Config

	c.AppEnv = p.oneOf("APP_ENV", Development, Development, Production)
	prod := c.AppEnv == Production

	c.HTTPAddr = p.str("HTTP_ADDR", ":8080")
	c.DatabaseURL = p.databaseURL("DATABASE_URL")
	c.LogLevel = p.logLevel("LOG_LEVEL", "info")
	c.DocsEnabled = p.boolean("DOCS_ENABLED", !prod)
	c.ShutdownTimeout = p.duration("SHUTDOWN_TIMEOUT", 20*time.Second)
	c.ReadHeaderTimeout = p.duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second)
	c.ReadTimeout = p.duration("HTTP_READ_TIMEOUT", 30*time.Second)
	c.WriteTimeout = p.duration("HTTP_WRITE_TIMEOUT", 30*time.Second)
	c.IdleTimeout = p.duration("HTTP_IDLE_TIMEOUT", 120*time.Second)
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES")
	c.CORSAllowedOrigins = p.origins("CORS_ALLOWED_ORIGINS")
	c.MaxJSONBodyBytes = p.size("MAX_JSON_BODY_BYTES", 1<<20)
	c.HealthCheckTimeout = p.duration("HEALTH_CHECK_TIMEOUT", 2*time.Second)
	c.DebugAddr = p.str("DEBUG_ADDR", "")
	c.MetricsAddr = p.str("METRICS_ADDR", "")
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			p.fail("METRICS_ADDR", fmt.Sprintf("%q is not host:port (such as :9090)", c.MetricsAddr))
		} else if c.MetricsAddr == c.HTTPAddr {
			p.fail("METRICS_ADDR", "must not be HTTP_ADDR: the metrics never go on the public port")
		}
	}
	c.OTLPEndpoint = strings.TrimSuffix(p.str("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "/")
	if c.OTLPEndpoint != "" {
		if u, err := url.Parse(c.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail("OTEL_EXPORTER_OTLP_ENDPOINT", fmt.Sprintf("%q is not an http(s) URL such as http://collector:4318", c.OTLPEndpoint))
		}
	}
	c.OTelSampleRatio = p.ratio("OTEL_TRACES_SAMPLER_ARG", 1)
	c.OTelServiceName = p.str("OTEL_SERVICE_NAME", "assistant")

	c.JWTSecret, c.JWTSecretRandom = p.secret("JWT_SECRET", prod)
	c.AccessTokenTTL = p.duration("ACCESS_TOKEN_TTL", 15*time.Minute)
	c.RefreshTokenTTL = p.duration("REFRESH_TOKEN_TTL", 30*24*time.Hour)
	for name, instead := range Retired {
		if _, ok := p.raw(name); ok {
			p.fail(name, "is no longer read: "+instead)
		}
	}
	c.RegistrationMode = p.oneOf("REGISTRATION_MODE", map[bool]string{false: "open", true: "invite"}[prod], "open", "invite", "closed")
	c.SessionMaxAge = p.duration("SESSION_MAX_AGE", 90*24*time.Hour)
	c.APIKeyDefaultTTL = p.duration("API_KEY_DEFAULT_TTL", 90*24*time.Hour)
	c.APIKeyMaxTTL = p.duration("API_KEY_MAX_TTL", 365*24*time.Hour)
	if c.APIKeyDefaultTTL > c.APIKeyMaxTTL {
		p.fail("API_KEY_DEFAULT_TTL", "is longer than API_KEY_MAX_TTL")
	}
	if c.RefreshTokenTTL > c.SessionMaxAge {
		p.fail("REFRESH_TOKEN_TTL", "is longer than SESSION_MAX_AGE")
	}
	c.InviteTTL = p.duration("INVITE_TTL", 7*24*time.Hour)
	c.PasswordResetTTL = p.duration("PASSWORD_RESET_TTL", 24*time.Hour)
	c.Argon2MemoryKiB = uint32(p.intRange("ARGON2_MEMORY_KIB", 19456, 8192, 1<<21))
	c.Argon2Time = uint32(p.intRange("ARGON2_TIME", 2, 1, 10))
	c.PasswordHashConcurrency = p.intRange("PASSWORD_HASH_CONCURRENCY", runtime.GOMAXPROCS(0), 1, 1024)
	c.PasswordHashQueue = p.intRange("PASSWORD_HASH_QUEUE", 32, 0, 100_000)

	c.RateLimitEnabled = p.boolean("RATE_LIMIT_ENABLED", true)
	c.RateLimitBackend = p.oneOf("RATE_LIMIT_BACKEND", "memory", "memory", "redis")
	c.RateLimitAuthRequests = p.intRange("RATE_LIMIT_AUTH_REQUESTS", 10, 1, 1_000_000)
	c.RateLimitAuthWindow = p.duration("RATE_LIMIT_AUTH_WINDOW", time.Minute)
	c.RateLimitGlobalRequests = p.intRange("RATE_LIMIT_GLOBAL_REQUESTS", 300, 1, 100_000_000)
	c.RateLimitIPv6Prefix = p.intRange("RATE_LIMIT_IPV6_PREFIX", 64, 16, 128)
	c.RateLimitFailOpen = p.boolean("RATE_LIMIT_FAIL_OPEN", true)
	c.RedisURL = p.str("REDIS_URL", "")
	c.RedisKeyPrefix = p.str("REDIS_KEY_PREFIX", "assistant:")
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			p.fail("REDIS_URL", "is not a redis:// URL")
		}
	}
	if c.RateLimitEnabled && c.RateLimitBackend == "redis" && c.RedisURL == "" {
		p.fail("REDIS_URL", "is required when RATE_LIMIT_BACKEND=redis")
	}

	c.LLMProvider = p.oneOf("LLM_PROVIDER", "echo", "echo", "openai")
	c.LLMAllowEcho = p.boolean("LLM_ALLOW_ECHO", false)
	c.LLMBaseURL = p.str("LLM_BASE_URL", "https://api.openai.com/v1")
	c.LLMAPIKey = p.str("LLM_API_KEY", "")
	c.LLMModel = p.str("LLM_MODEL", "")
	c.LLMModels = p.list("LLM_MODELS")
	c.LLMMaxTokens = p.intRange("LLM_MAX_TOKENS", 4096, 1, 10_000_000)
	c.UserDailyTokenBudget = int64(p.intRange("USER_DAILY_TOKEN_BUDGET", 0, 0, 1<<62))
	c.LLMTimeout = p.duration("LLM_TIMEOUT", 60*time.Second)
	c.LLMContextTokens = p.intRange("LLM_CONTEXT_TOKENS", 8192, 256, 10_000_000)
	c.EchoDelay = p.duration0("ECHO_DELAY", 30*time.Millisecond)
	c.GenerationsPerUser = p.intRange("GENERATIONS_PER_USER", 3, 1, 1000)
	c.SSEStreamsPerUser = p.intRange("SSE_STREAMS_PER_USER", 10, 1, 10_000)
	c.SSEHeartbeat = p.duration("SSE_HEARTBEAT", 15*time.Second)
	c.CheckpointInterval = p.duration("CHECKPOINT_INTERVAL", time.Second)
	c.UploadDir = p.str("UPLOAD_DIR", ".data/uploads")
	c.ExportDir = p.renamed("EXPORT_DIR", "PDF_DIR", ".data/exports", &c.Warnings)
	c.StorageBackend = p.oneOf("STORAGE_BACKEND", "local", "local", "s3")
	c.S3Endpoint = p.str("S3_ENDPOINT", "https://s3.amazonaws.com")
	c.S3Region = p.str("S3_REGION", "us-east-1")
	c.S3Bucket = p.str("S3_BUCKET", "")
	c.S3Prefix = p.str("S3_PREFIX", "")
	c.S3AccessKeyID = p.str("S3_ACCESS_KEY_ID", "")
	c.S3SecretAccessKey = p.str("S3_SECRET_ACCESS_KEY", "")
	c.S3ForcePathStyle = p.boolean("S3_FORCE_PATH_STYLE", false)
	if c.StorageBackend == "s3" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
			p.fail("S3_ENDPOINT", fmt.Sprintf("%q is not an http(s) URL of a server, such as https://s3.eu-west-1.amazonaws.com (no path, no credentials)", c.S3Endpoint))
		}
		if !s3Bucket.MatchString(c.S3Bucket) {
			p.fail("S3_BUCKET", fmt.Sprintf("%q is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", c.S3Bucket))
		}
		if c.S3AccessKeyID == "" || c.S3SecretAccessKey == "" {
			p.fail("S3_ACCESS_KEY_ID", "and S3_SECRET_ACCESS_KEY are required with STORAGE_BACKEND=s3")
		}
		if strings.Contains(c.S3Prefix, "..") || strings.HasPrefix(c.S3Prefix, "/") {
			p.fail("S3_PREFIX", fmt.Sprintf("%q may not start with / or hold ..", c.S3Prefix))
		}
		if prod && strings.HasPrefix(c.S3Endpoint, "http://") {
			c.Warnings = append(c.Warnings, "S3_ENDPOINT is plain http: files travel unencrypted to the store")
		}
	}
	c.SearchLanguage = p.str("SEARCH_LANGUAGE", "simple")
	if !searchLanguage.MatchString(c.SearchLanguage) {
		p.fail("SEARCH_LANGUAGE", fmt.Sprintf("%q is not a text-search configuration name (such as simple, english, german)", c.SearchLanguage))
	}
	c.MaxUploadBytes = p.size("MAX_UPLOAD_BYTES", 25<<20)
	c.UserStorageQuotaBytes = p.size("USER_STORAGE_QUOTA_BYTES", 1<<30)
	c.UploadsPerUser = p.intRange("UPLOADS_PER_USER", 2, 1, 1000)
	c.UploadTimeout = p.duration("UPLOAD_TIMEOUT", 30*time.Minute)
	c.ExportMaxMessages = p.intRange("EXPORT_MAX_MESSAGES", 5000, 1, 1_000_000)
	c.ExportMaxBytes = p.size("EXPORT_MAX_BYTES", 20<<20)
	c.ExportTimeout = p.duration("EXPORT_TIMEOUT", 60*time.Second)
	if c.LLMProvider == "openai" {
		if u, err := url.Parse(c.LLMBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail("LLM_BASE_URL", fmt.Sprintf("%q is not an http(s) URL", c.LLMBaseURL))
		}
		if c.LLMModel == "" {
			p.fail("LLM_MODEL", "is required with LLM_PROVIDER=openai")
		}
	}
	if prod && c.LLMProvider == "echo" && !c.LLMAllowEcho {
		p.fail("LLM_PROVIDER", "echo answers without any AI; set LLM_PROVIDER=openai, or LLM_ALLOW_ECHO=true to run it in production anyway")
	}

	if prod {
		for _, o := range c.CORSAllowedOrigins {
			if o == "*" {
				p.fail("CORS_ALLOWED_ORIGINS", "must list origins, not *, in production")
			}
		}
	}
	return c, p.err()
}

// LogValue lists the settings for the start-up log line, with secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("app_env", c.AppEnv),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("database_url", maskURL(c.DatabaseURL)),
		slog.String("log_level", c.LogLevel.String()),
		slog.Bool("docs_enabled", c.DocsEnabled),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.Int("trusted_proxies", len(c.TrustedProxies)),
		slog.Any("cors_allowed_origins", c.CORSAllowedOrigins),
		slog.Int64("max_json_body_bytes", c.MaxJSONBodyBytes),
		slog.String("jwt_secret", maskSecret(c.JWTSecret, c.JWTSecretRandom)),
		slog.String("access_token_ttl", c.AccessTokenTTL.String()),
		slog.String("refresh_token_ttl", c.RefreshTokenTTL.String()),
		slog.String("registration_mode", c.RegistrationMode),
		slog.String("session_max_age", c.SessionMaxAge.String()),
		slog.String("api_key_default_ttl", c.APIKeyDefaultTTL.String()),
		slog.String("api_key_max_ttl", c.APIKeyMaxTTL.String()),
		slog.Bool("rate_limit_enabled", c.RateLimitEnabled),
		slog.String("rate_limit_backend", c.RateLimitBackend),
		slog.Int("rate_limit_auth_requests", c.RateLimitAuthRequests),
		slog.String("rate_limit_auth_window", c.RateLimitAuthWindow.String()),
		slog.Int("rate_limit_global_requests", c.RateLimitGlobalRequests),
		slog.Int("rate_limit_ipv6_prefix", c.RateLimitIPv6Prefix),
		slog.String("redis_url", maskURL(c.RedisURL)),
		slog.String("llm_provider", c.LLMProvider),
		slog.String("llm_base_url", maskURL(c.LLMBaseURL)),
		slog.Bool("llm_api_key_set", c.LLMAPIKey != ""),
		slog.String("llm_model", c.LLMModel),
		slog.Any("llm_models", c.LLMModels),
		slog.Int("llm_max_tokens", c.LLMMaxTokens),
		slog.Int64("user_daily_token_budget", c.UserDailyTokenBudget),
		slog.Int("sse_streams_per_user", c.SSEStreamsPerUser),
		slog.String("llm_timeout", c.LLMTimeout.String()),
		slog.Int("generations_per_user", c.GenerationsPerUser),
		slog.String("storage_backend", c.StorageBackend),
		slog.String("upload_dir", c.UploadDir),
		slog.String("export_dir", c.ExportDir),
		slog.String("s3_endpoint", maskURL(c.S3Endpoint)),
		slog.String("s3_region", c.S3Region),
		slog.String("s3_bucket", c.S3Bucket),
		slog.String("s3_prefix", c.S3Prefix),
		slog.Bool("s3_access_key_id_set", c.S3AccessKeyID != ""),
		slog.Bool("s3_secret_access_key_set", c.S3SecretAccessKey != ""),
		slog.Bool("s3_force_path_style", c.S3ForcePathStyle),
		slog.String("search_language", c.SearchLanguage),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("otel_exporter_otlp_endpoint", maskURL(c.OTLPEndpoint)),
		slog.Float64("otel_traces_sampler_arg", c.OTelSampleRatio),
		slog.String("otel_service_name", c.OTelServiceName),
		slog.Int64("max_upload_bytes", c.MaxUploadBytes),
		slog.Int64("user_storage_quota_bytes", c.UserStorageQuotaBytes),
	)
}

func maskSecret(s []byte, random bool) string {
	if random {
		return "(random for this process)"
	}
	return fmt.Sprintf("(%d bytes)", len(s))
}

func maskURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// parser collects one problem per bad variable.
type parser struct {
	getenv   Getenv
	problems []string
}

func (p *parser) fail(name, msg string) {
	p.problems = append(p.problems, name+": "+msg)
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return errors.New("invalid configuration:\n  " + strings.Join(p.problems, "\n  "))
}

func (p *parser) raw(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) str(name, def string) string {
	if v, ok := p.raw(name); ok {
		return v
	}
	return def
}

// renamed reads name, or its deprecated old name (with a warning) when only that is set.
func (p *parser) renamed(name, old, def string, warnings *[]string) string {
	v, ok := p.raw(name)
	ov, oldOK := p.raw(old)
	switch {
	case ok && oldOK && v != ov:
		p.fail(old, "is deprecated and differs from "+name+"; set only "+name)
	case !ok && oldOK:
		*warnings = append(*warnings, old+" is deprecated: set "+name+" instead")
		return ov
	}
	if ok {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
	return def
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not a boolean (true or false)", v))
		return def
	}
	return b
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, fmt.Sprintf("%q is not a positive duration such as 15m, 1m or 2s", v))
		return def
	}
	return d
}

// duration0 is duration allowing zero.
func (p *parser) duration0(name string, def time.Duration) time.Duration {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(name, fmt.Sprintf("%q is not a duration such as 0s, 30ms or 1s", v))
		return def
	}
	return d
}

func (p *parser) size(name string, def int64) int64 {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		p.fail(name, fmt.Sprintf("%q is not a positive number of bytes", v))
		return def
	}
	return n
}

func (p *parser) intRange(name string, def, lo, hi int) int {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, fmt.Sprintf("%q is not a whole number from %d to %d", v, lo, hi))
		return def
	}
	return n
}

// exampleSecrets are the placeholders of the .env examples: never valid in production.
var exampleSecrets = []string{"change-me", "changeme", "secret", "example", "replace-with"}

// secret reads a signing secret. Production requires 32 bytes or more that are not an
// example value; development without one gets a random secret for the process.
func (p *parser) secret(name string, prod bool) ([]byte, bool) {
	v, ok := p.raw(name)
	if !ok {
		if prod {
			p.fail(name, "is required in production (32 or more random bytes, e.g. openssl rand -base64 48)")
			return nil, false
		}
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b, true
	}
	if len(v) < 32 {
		p.fail(name, "must be at least 32 bytes long")
	}
	lower := strings.ToLower(v)
	for _, ex := range exampleSecrets {
		if prod && strings.Contains(lower, ex) {
			p.fail(name, "is an example value; generate a random one (openssl rand -base64 48)")
			break
		}
	}
	return []byte(v), false
}

func (p *parser) logLevel(name, def string) slog.Level {
	v := strings.ToLower(p.str(name, def))
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, fmt.Sprintf("%q is not one of debug, info, warn, error", v))
		return slog.LevelInfo
	}
	return l
}

func (p *parser) databaseURL(name string) string {
	v, ok := p.raw(name)
	if !ok {
		p.fail(name, "is required (postgres://user:password@host:5432/db?sslmode=disable)")
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && u.Query().Get("host") == "" {
		p.fail(name, "is not a postgres:// URL")
	}
	return v
}

func (p *parser) prefixes(name string) []netip.Prefix {
	v, ok := p.raw(name)
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if pr, err := netip.ParsePrefix(f); err == nil {
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			p.fail(name, fmt.Sprintf("%q is neither an IP address nor a CIDR prefix", f))
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

// ratio is a number from 0 to 1.
func (p *parser) ratio(name string, def float64) float64 {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 1) { // written so, NaN fails too
		p.fail(name, fmt.Sprintf("%q is not a number from 0 to 1", v))
		return def
	}
	return f
}

// list is a comma-separated list; blanks between commas are dropped.
func (p *parser) list(name string) []string {
	v, ok := p.raw(name)
	if !ok {
		return nil
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (p *parser) origins(name string) []string {
	v, ok := p.raw(name)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f != "*" {
			u, err := url.Parse(f)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
				p.fail(name, fmt.Sprintf("%q is not an origin such as https://app.example.com", f))
				continue
			}
		}
		out = append(out, f)
	}
	return out
}
