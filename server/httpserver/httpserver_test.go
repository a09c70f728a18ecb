package httpserver_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"assistant/server/apierr"
	"assistant/server/httpserver"
	"assistant/server/logging"
)

// A request the server cuts off at the end of the shutdown timeout is cancelled with
// ErrShutdown as the cause: it is not taken for a client that went away (499).
func TestRequestsCutOffAtShutdownAreNotClientsThatLeft(t *testing.T) {
	t.Parallel()
	seen := make(chan error, 1)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		if apierr.ClientClosed(r.Context()) {
			seen <- errors.New("taken for a client that left")
			return
		}
		seen <- context.Cause(r.Context())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserver.New(httpserver.Config{}, h, logging.Discard())
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- httpserver.Run(ctx, srv, ln, 100*time.Millisecond, nil, logging.Discard()) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	stop()
	if err := <-seen; !errors.Is(err, httpserver.ErrShutdown) {
		t.Errorf("the cut-off request's cause: %v", err)
	}
	if err := <-ran; err == nil {
		t.Error("Run returned nil with a request cut off")
	}
}
