// Package httpapi assembles the HTTP edge: the middleware pipeline, the validator, the
// generated strict server with its operations, docs, and the envelope on every failure path.
package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"assistant"
	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/accounts"
	"assistant/server/admin"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/chat"
	"assistant/server/config"
	"assistant/server/docs"
	"assistant/server/download"
	"assistant/server/exports"
	"assistant/server/files"
	"assistant/server/generation"
	"assistant/server/llm"
	"assistant/server/logging"
	"assistant/server/middleware"
	"assistant/server/notify"
	"assistant/server/ratelimit"
	"assistant/server/storage"
	"assistant/server/system"
	"assistant/server/usage"
	"assistant/server/validation"
)

// BasePath is where the API is mounted; the spec's server URL says the same.
const BasePath = "/api/v1"

// Deps are what the API needs from the process.
type Deps struct {
	Config config.Config
	Log    *slog.Logger
	// LogWriter is where Log writes; the access log writes its lines there directly.
	LogWriter io.Writer
	Pool      *pgxpool.Pool
	Version   string
	Started   time.Time
	// Provider overrides the configured AI provider (tests use a fake one).
	Provider llm.Provider
}

// Server implements every operation of the contract by embedding one handler set per tag.
type Server struct {
	*system.Health
	*accounts.Accounts
	*chat.Chat
	*files.Files
	*exports.Exports
	*admin.Admin
	*usage.Usage
}

// App is the assembled API.
type App struct {
	Handler http.Handler
	// Generations runs the model's replies; serve drains it on shutdown.
	Generations *generation.Manager
	files       *files.Files
	exports     *exports.Exports
	closers     []func() error

	// Notify is the process's LISTEN connection for replies on other replicas.
	Notify *notify.Listener
}

// ExportsRunning is the number of export renders in progress (a render whose request gave
// up counts until it has stopped).
func (a *App) ExportsRunning() int64 { return a.exports.Running() }

// Sweep removes stored files that a crash left without a row (run at start-up).
func (a *App) Sweep(ctx context.Context) error {
	return errors.Join(a.files.Sweep(ctx), a.exports.Sweep(ctx))
}

// Close releases what the API holds besides the pool (the rate limiter's Redis client).
func (a *App) Close() error {
	var errs []error
	for _, c := range a.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// NewProvider returns the configured AI provider.
func NewProvider(cfg config.Config) llm.Provider {
	if cfg.LLMProvider == "openai" {
		return llm.NewOpenAI(cfg.LLMBaseURL, cfg.LLMAPIKey, cfg.LLMModel, cfg.LLMTimeout)
	}
	return llm.Echo{Delay: cfg.EchoDelay}
}

var _ api.StrictServerInterface = (*Server)(nil)

// New assembles the API.
func New(d Deps) (*App, error) {
	cfg := d.Config
	spec, err := api.GetSpec()
	if err != nil {
		return nil, err
	}
	specJSON, err := api.GetSpecJSON()
	if err != nil {
		return nil, err
	}
	log := d.Log
	limiter, err := ratelimit.New(cfg, BasePath, log)
	if err != nil {
		return nil, err
	}
	queries := db.New()
	tokens := auth.NewTokens(cfg.JWTSecret, cfg.AccessTokenTTL)
	sessions := auth.NewSessionCache(100_000)
	authenticator := &auth.Authenticator{Tokens: tokens, DB: d.Pool, Q: queries, Log: log, Sessions: sessions}
	provider := d.Provider
	if provider == nil {
		provider = NewProvider(cfg)
	}
	generations := generation.NewManager(d.Pool, queries, provider, cfg.CheckpointInterval, log)
	uploads, err := storage.NewLocal(cfg.UploadDir)
	if err != nil {
		return nil, err
	}
	exportStore, err := storage.NewLocal(cfg.PDFDir)
	if err != nil {
		return nil, err
	}
	// One listening connection per process, besides the pool, for news of replies running
	// on other replicas.
	listener := notify.Start(func(ctx context.Context) (*pgx.Conn, error) {
		return pgx.ConnectConfig(ctx, d.Pool.Config().ConnConfig)
	}, log)
	generations.SetNotify(listener)
	fileHandlers := &files.Files{DB: d.Pool, Q: queries, Store: uploads, MaxUpload: cfg.MaxUploadBytes,
		Quota: cfg.UserStorageQuotaBytes, PerUser: cfg.UploadsPerUser, Log: log}
	exportHandlers := &exports.Exports{DB: d.Pool, Q: queries, Store: exportStore, MaxMessages: cfg.ExportMaxMessages,
		MaxBytes: cfg.ExportMaxBytes, Quota: cfg.UserStorageQuotaBytes, Timeout: cfg.ExportTimeout,
		Conversation: chat.ToConversation, Message: chat.ToMessage, Log: log}
	srv := &Server{
		Health: &system.Health{
			Version:  d.Version,
			Started:  d.Started,
			Database: d.Pool.Ping,
			Redis:    limiter.RedisCheck(),
			Timeout:  cfg.HealthCheckTimeout,
			Log:      log,
		},
		Accounts: &accounts.Accounts{
			DB: d.Pool,
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
			OnDelete:          []accounts.DeleteHook{fileHandlers.DeleteUserData, exportHandlers.DeleteUserData},
			Log:               log,
		},
		Chat: &chat.Chat{
			DB:            d.Pool,
			Q:             queries,
			Generations:   generations,
			Files:         fileHandlers,
			ContextTokens: cfg.LLMContextTokens,
			PerUser:       cfg.GenerationsPerUser,
			Heartbeat:     cfg.SSEHeartbeat,
			Log:           log,

			StreamsPerUser: cfg.SSEStreamsPerUser,
			Notify:         listener,
		},
		Files:   fileHandlers,
		Exports: exportHandlers,
		Admin:   &admin.Admin{DB: d.Pool, Q: queries, InviteTTL: cfg.InviteTTL, ResetTTL: cfg.PasswordResetTTL, Sessions: sessions, OnDelete: []accounts.DeleteHook{fileHandlers.DeleteUserData, exportHandlers.DeleteUserData}, Log: log},
		Usage:   &usage.Usage{DB: d.Pool, Q: queries, Provider: provider, Models: cfg.LLMModels, MaxTokens: cfg.LLMMaxTokens, DailyBudget: cfg.UserDailyTokenBudget, Log: log},
	}
	srv.Chat.Spending = srv.Usage // replies' models, caps and budget

	root := chi.NewRouter()
	root.Use(middleware.RequestID, middleware.ClientAddress(cfg.TrustedProxies), middleware.AccessLog(log, logging.NewAccess(d.LogWriter, cfg.LogLevel)),
		middleware.URILimit(middleware.MaxURIBytes, log))
	if len(cfg.CORSAllowedOrigins) > 0 {
		root.Use(cors.Handler(cors.Options{
			AllowedOrigins:   cfg.CORSAllowedOrigins,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "Last-Event-ID", "Range", "If-None-Match"},
			ExposedHeaders:   []string{"X-Request-ID", "Retry-After", "Content-Disposition", "ETag", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"},
			AllowCredentials: false,
			MaxAge:           600,
		}))
	}
	root.NotFound(func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, r, log, apierr.ErrNotFound)
	})
	root.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, r, log, methodNotAllowed(root, r))
	})

	strict := api.NewStrictHandlerWithOptions(srv, []api.StrictMiddlewareFunc{limiter.StrictMiddleware, download.WithRequest, files.KeepDeclaredSize, chat.LiftWriteDeadline}, api.StrictHTTPServerOptions{
		// The validator has checked the body, so a decode failure here is a body the
		// validator let through but Go cannot bind: still the client's fault.
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			apierr.Write(w, r, log, apierr.BadRequest("the request body could not be read"))
		},
		ResponseErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			apierr.Write(w, r, log, err)
		},
	})

	root.Route(BasePath, func(r chi.Router) {
		if cfg.DocsEnabled {
			docs.Mount(r, BasePath, assistant.Spec, specJSON, log)
		}
		r.Group(func(r chi.Router) {
			upload := func(r *http.Request) bool {
				return r.Method == http.MethodPost && r.URL.Path == BasePath+"/files" && isMultipart(r)
			}
			// The multipart envelope may exceed the file's own limit by its headers.
			r.Use(middleware.BodyLimit(func(r *http.Request) int64 {
				if upload(r) {
					return cfg.MaxUploadBytes + files.Envelope
				}
				return cfg.MaxJSONBodyBytes
			}, log))
			r.Use(limiter.Middleware)
			r.Use(noStore)
			r.Use(auth.WithHolder)
			r.Use(validation.Split(upload, cfg.UploadTimeout,
				validation.New(spec, BasePath, authenticator.Authenticate, false, log),
				validation.New(spec, BasePath, authenticator.Authenticate, true, log)))
			api.HandlerWithOptions(strict, api.ChiServerOptions{
				BaseRouter:       r,
				ErrorHandlerFunc: bindError(log),
			})
		})
	})
	return &App{Handler: root, Generations: generations, Notify: listener, files: fileHandlers, exports: exportHandlers,
		closers: []func() error{limiter.Close, listener.Close}}, nil
}

// bindError answers the generated wrapper's parameter binding failures. The validator has
// already checked every parameter, so reaching here means the two disagree; still a 422.
func bindError(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		field := "request"
		var pf *api.InvalidParamFormatError
		var rp *api.RequiredParamError
		switch {
		case errors.As(err, &pf):
			field = pf.ParamName
		case errors.As(err, &rp):
			field = rp.ParamName
		}
		apierr.Write(w, r, log, apierr.Validation(api.FieldError{Field: field, Message: "is not valid"}))
	}
}

var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// methodNotAllowed is the 405 with the Allow header listing what the path does accept.
func methodNotAllowed(root chi.Routes, r *http.Request) *apierr.Error {
	var allow []string
	for _, m := range methods {
		if root.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allow = append(allow, m)
		}
	}
	e := apierr.New(http.StatusMethodNotAllowed, api.ErrorBodyCodeMethodNotAllowed, "method "+r.Method+" is not allowed here")
	e.Header = http.Header{"Allow": {strings.Join(allow, ", ")}}
	return e
}

func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data")
}

// noStore keeps API answers (private data, tokens) out of shared and browser caches;
// downloads and streams set their own Cache-Control.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
