// Command assistant is the whole service: serve, migrate, healthcheck, users and version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"assistant/server/config"
	"assistant/server/database"
	"assistant/server/httpapi"
	"assistant/server/httpserver"
	"assistant/server/logging"
	"assistant/server/migrate"
	"assistant/server/services"
	"assistant/server/system"
)

// version is stamped by the build: -ldflags "-X main.version=1.2.3".
var version string

const usage = `usage: assistant <command>

commands:
  serve        serve the API (configured by the environment; see .env.example)
  migrate      apply database migrations to DATABASE_URL, then exit
  healthcheck  exit 0 when GET /api/v1/health answers 200, 1 otherwise [--url URL]
  users        users create --email EMAIL [--admin] [--display-name NAME]: create an
               account (the password is read from standard input), print its id
  version      print the build version and the API version (the spec's info.version)
`

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(os.Stderr, "assistant:", err)
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errors.New("no command given")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, getenv, stdout)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, args[1:], getenv)
	case "users":
		return runUsers(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "version":
		// The build, then the contract it serves (the spec's info.version).
		fmt.Fprintf(stdout, "%s (API %s)\n", buildVersion(), system.APIVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", args[0])}
}

func loadConfig(getenv config.Getenv) (config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, &exitError{2, err}
	}
	return cfg, nil
}

func serve(ctx context.Context, getenv config.Getenv, stdout io.Writer) error {
	started := time.Now()
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// Every line is written through at once (one write(2) each, about 5 µs; see
	// BenchmarkLogWriter): a fatal error or a kill cannot be intercepted to flush a buffer,
	// and the lines just before a crash are the ones that explain it.
	log := logging.New(stdout, cfg.LogLevel)
	log.Info("starting", "version", buildVersion(), "config", cfg)

	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	app, err := httpapi.New(httpapi.Deps{Config: cfg, Log: log, LogWriter: stdout, Pool: pool, Version: buildVersion(), Started: started})
	if err != nil {
		return err
	}
	defer app.Close()
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if cfg.JWTSecretRandom {
		log.Warn("JWT_SECRET is not set: using a random secret, so sessions end when the process restarts")
	}
	// Twice the default heap growth between collections: the live heap of a serving process
	// is small (a few MiB), so the memory cost is small and the collector's CPU share drops
	// noticeably under load. GOGC, when set, decides instead.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	// Start-up garbage (the parsed spec, the validators' routers) is returned to the OS now
	// rather than whenever the scavenger gets to it: an idle replica stays small.
	debug.FreeOSMemory()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	if cfg.DebugAddr != "" {
		go serveDebug(ctx, cfg.DebugAddr, log)
	}
	if app.Metrics != nil {
		// Bound before serving, so a port already taken stops the start-up.
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		go serveMetrics(ctx, mln, app.Metrics.Handler(), log)
	}
	// The periodic jobs stop with ctx; serve returns once they have.
	jobs := make(chan struct{})
	go func() {
		defer close(jobs)
		app.Run(ctx)
	}()
	defer func() { <-jobs }()
	srv := httpserver.New(services.HTTPServer(cfg), app.Handler, log)
	// Replies get most of the shutdown time to finish; the rest is for their streams to
	// send the final event before the server stops waiting.
	drain := func(ctx context.Context) {
		d, _ := ctx.Deadline()
		dctx, cancel := context.WithDeadline(ctx, d.Add(-time.Until(d)/10))
		defer cancel()
		app.Generations.Shutdown(dctx)
	}
	return httpserver.Run(ctx, srv, ln, cfg.ShutdownTimeout, drain, log)
}

func runMigrate(ctx context.Context, args []string, getenv config.Getenv, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dump := fs.String("dump-schema", "", "after migrating, write the schema (pg_dump) to this file")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	url := strings.TrimSpace(getenv("DATABASE_URL"))
	if url == "" {
		return &exitError{2, errors.New("DATABASE_URL is required")}
	}
	if err := migrate.Run(ctx, url, stdout); err != nil {
		return err
	}
	if *dump != "" {
		return migrate.DumpSchema(url, *dump)
	}
	return nil
}

func healthcheck(ctx context.Context, args []string, getenv config.Getenv) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	target := fs.String("url", "", "health URL (default: from HTTP_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	if *target == "" {
		addr := strings.TrimSpace(getenv("HTTP_ADDR"))
		if addr == "" {
			addr = ":8080"
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return &exitError{2, fmt.Errorf("HTTP_ADDR: %w", err)}
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		*target = "http://" + net.JoinHostPort(host, port) + httpapi.BasePath + "/health"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return &exitError{2, err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health answered %d", resp.StatusCode)
	}
	return nil
}

// buildVersion is the stamped version, else the module version or VCS revision from the
// build info, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

// serveMetrics serves the Prometheus metrics at /metrics on their own listener, apart from
// the API (whose router answers /metrics with the 404 envelope); anything else is 404.
func serveMetrics(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("metrics listener", slog.String("addr", ln.Addr().String()))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener", slog.Any("error", err))
	}
}

// serveDebug serves the profiler on its own listener, apart from the API.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("debug listener (pprof)", slog.String("addr", addr))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("debug listener", slog.Any("error", err))
	}
}
