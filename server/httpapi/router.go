// Package httpapi assembles the HTTP edge: the middleware pipeline, the validator, the
// generated strict server with its operations, docs, and the envelope on every failure path.
package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
	"github.com/jackc/pgx/v5/pgxpool"

	"assistant"
	"assistant/gen/api"
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
	"assistant/server/imports"
	"assistant/server/llm"
	"assistant/server/logging"
	"assistant/server/middleware"
	"assistant/server/search"
	"assistant/server/services"
	"assistant/server/shares"
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
	*search.Index
	*shares.Shares
	*imports.Imports
}

var _ api.StrictServerInterface = (*Server)(nil)

// App is the assembled API: the services and the handler that serves them.
type App struct {
	*services.Services
	Handler http.Handler
}

// New builds the services and assembles the HTTP edge over them.
func New(d Deps) (*App, error) {
	spec, err := api.GetSpec()
	if err != nil {
		return nil, err
	}
	svc, err := services.New(services.Deps{Config: d.Config, Log: d.Log, Pool: d.Pool, Version: d.Version,
		Started: d.Started, Provider: d.Provider, Spec: spec, BasePath: BasePath})
	if err != nil {
		return nil, err
	}
	h, err := Handler(svc, spec, d.Config, d.Log, d.LogWriter)
	if err != nil {
		return nil, errors.Join(err, svc.Close())
	}
	return &App{Services: svc, Handler: h}, nil
}

// Handler is the route tree over the services: the middleware pipeline, the validators and
// the strict server, and the envelope on every failure path.
func Handler(svc *services.Services, spec *openapi3.T, cfg config.Config, log *slog.Logger, logWriter io.Writer) (http.Handler, error) {
	specJSON, err := api.GetSpecJSON()
	if err != nil {
		return nil, err
	}
	srv := &Server{Health: svc.Health, Accounts: svc.Accounts, Chat: svc.Chat, Files: svc.Files, Exports: svc.Exports,
		Admin: svc.Admin, Usage: svc.Usage, Index: svc.Search, Shares: svc.Shares, Imports: svc.Imports}
	limiter, authenticator := svc.Limiter, svc.Authenticator
	streamed := streamedBodies(spec)

	root := chi.NewRouter()
	root.Use(middleware.RequestID, middleware.ClientAddress(cfg.TrustedProxies), middleware.AccessLog(logging.NewAccess(logWriter, cfg.LogLevel), secretRoutes(spec)...),
		middleware.Observe(svc.Metrics, svc.Tracing.Tracer(), operations(spec)), middleware.Recover(log),
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
			// Uploads (the operations whose body is multipart) stream past the validator.
			upload := func(r *http.Request) bool { return streamed[r.Method+" "+r.URL.Path] && isMultipart(r) }
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
				validation.New(spec, BasePath, authenticator.Authenticate, log),
				validation.NewBodiless(spec, BasePath, authenticator.Authenticate, log)))
			api.HandlerWithOptions(strict, api.ChiServerOptions{
				BaseRouter:       r,
				ErrorHandlerFunc: bindError(log),
			})
		})
	})
	return root, nil
}

// secretRoutes are the route patterns whose path carries a secret (a parameter marked
// x-secret, such as a share link's token): the access log shows them as their pattern.
func secretRoutes(spec *openapi3.T) []string {
	var out []string
	for path, item := range spec.Paths.Map() {
		params := item.Parameters
		for _, op := range item.Operations() {
			params = append(params, op.Parameters...)
		}
		for _, p := range params {
			if p.Value != nil && p.Value.In == "path" && p.Value.Extensions["x-secret"] == true {
				out = append(out, BasePath+path)
				break
			}
		}
	}
	return out
}

// operations maps "METHOD route pattern" (as chi reports it) to the operation's id: the
// label and span name of a request, never its raw path.
func operations(spec *openapi3.T) map[string]string {
	out := map[string]string{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+BasePath+path] = op.OperationID
		}
	}
	return out
}

// streamedBodies are the "METHOD /api/v1/path" of the operations whose body is
// multipart/form-data: read from the spec, so a new upload operation streams too.
func streamedBodies(spec *openapi3.T) map[string]bool {
	out := map[string]bool{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil && op.RequestBody.Value.Content.Get("multipart/form-data") != nil {
				out[method+" "+BasePath+path] = true
			}
		}
	}
	return out
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
	return apierr.New(http.StatusMethodNotAllowed, api.ErrorBodyCodeMethodNotAllowed, "method "+r.Method+" is not allowed here").
		WithHeader("Allow", strings.Join(allow, ", "))
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
