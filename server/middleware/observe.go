package middleware

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"assistant/server/apierr"
	"assistant/server/logging"
	"assistant/server/metrics"
)

// Operation labels of requests outside the spec's operations.
const (
	// OperationUnmatched is a request no route matched (a 404 of the router).
	OperationUnmatched = "unmatched"
	// OperationOther is a route outside the spec's operations (the docs pages, a method a
	// path does not have).
	OperationOther = "other"
)

// Observe records every request in the metrics (operation id, status class, duration, the
// envelope's code) and, with a tracer, makes a span of it named by its operation id, whose
// trace id then goes on every log line of the request. operations maps "METHOD route
// pattern" to operation ids: the label is never the raw path. It sits just inside
// AccessLog, whose writer it shares (the status is the one the access line shows, 499 for
// a client that left), and outside Recover, so a panic is seen as the 500 it becomes.
func Observe(m *metrics.Metrics, tracer trace.Tracer, operations map[string]string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw, ok := w.(*responseWriter)
			if !ok {
				rw = &responseWriter{ResponseWriter: w}
				w = rw
			}
			ctx := r.Context()
			var span trace.Span
			if tracer != nil {
				// Named by method until the route is known; renamed at the end.
				ctx, span = tracer.Start(ctx, r.Method, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer),
					trace.WithAttributes(attribute.String("http.request.method", r.Method)))
				if sc := span.SpanContext(); sc.IsSampled() {
					logging.SetTraceID(ctx, sc.TraceID().String())
				}
				r = r.WithContext(ctx)
			}
			defer func() {
				// Deferred, so a request aborted by a panic (http.ErrAbortHandler) counts too.
				route, op := "", OperationUnmatched
				if rc := chi.RouteContext(ctx); rc != nil && rc.RoutePattern() != "" {
					route = rc.RoutePattern()
					if id, ok := operations[r.Method+" "+route]; ok {
						op = id
					} else if !strings.HasSuffix(route, "*") { // a catch-all is no route
						op = OperationOther
					}
				}
				status := finalStatus(rw, ctx)
				m.Request(op, status, time.Since(start))
				m.Error(rw.code)
				if span != nil {
					span.SetName(op)
					span.SetAttributes(attribute.Int("http.response.status_code", status))
					if route != "" {
						span.SetAttributes(attribute.String("http.route", route))
					}
					if status >= 500 && status != apierr.StatusClientClosedRequest {
						span.SetStatus(codes.Error, rw.code)
					}
					span.End()
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// finalStatus is the request's one status: what was sent, or 200 when the handler sent
// nothing, or 499 when it sent nothing because the client had gone.
func finalStatus(rw *responseWriter, ctx context.Context) int {
	if s := rw.Status(); s != 0 {
		return s
	}
	if apierr.ClientClosed(ctx) {
		// The handler gave up without a word because the client had gone.
		return apierr.StatusClientClosedRequest
	}
	return http.StatusOK
}
