// Package httpserver runs the HTTP server with explicit timeouts and a graceful shutdown.
package httpserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// MaxHeaderBytes bounds what net/http reads of a request's line and headers (it allows
// 4 KiB more; beyond, it answers a plain-text 431 before any handler runs). It is far above
// the API's own URI limit (middleware.MaxURIBytes, 8 KiB), so an overlong URI of up to about
// 132 KiB gets the 414 envelope, and above what the bundled nginx forwards (a request line
// of at most 16 KiB and header lines within 4 x 16 KiB, plus the few it adds), so nothing
// nginx accepts meets that plain-text answer. A connection holds at most this much while
// its headers arrive.
const MaxHeaderBytes = 128 << 10

// Config is the server's address and timeouts.
type Config struct {
	Addr                                                      string
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// New returns a server with every timeout set: ReadHeaderTimeout against slowloris, and
// read/write timeouts that streaming routes extend for themselves.
func New(cfg Config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ErrShutdown is the cause with which Run cancels the requests it cuts off at shutdown, so
// that they are not taken for clients that went away (apierr.ClientClosed).
var ErrShutdown = errors.New("the server is shutting down")

// Run serves on ln until ctx is cancelled (SIGTERM), then stops accepting connections and
// gives in-flight requests up to timeout to finish. drain, when set, runs at the same time
// with the same deadline, to end work that outlives requests (and the streams that follow
// it). It returns nil after a clean shutdown.
func Run(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, drain func(context.Context), log *slog.Logger) error {
	base, cut := context.WithCancelCause(context.Background())
	defer cut(ErrShutdown)
	if srv.BaseContext == nil {
		srv.BaseContext = func(net.Listener) context.Context { return base }
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("timeout", timeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if drain != nil {
			drain(sctx)
		}
	}()
	err := srv.Shutdown(sctx)
	<-drained
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if err != nil {
		// Requests still running after the timeout are cut off, with a cause that says so.
		cut(ErrShutdown)
		_ = srv.Close()
		return err
	}
	log.Info("stopped")
	return nil
}
