// Package tracing is the process's OpenTelemetry tracing: an OTLP/HTTP exporter when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (else nothing is traced), a ratio sampler, and the
// spans of database calls. Nothing here touches OpenTelemetry's global state: the provider
// is passed to the one place that starts a request's root span, and every span below it
// (database calls, the provider's stream, its HTTP request) is made with the provider of
// the span found in the context, so two servers in one test process keep their traces apart.
package tracing

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config says where traces go.
type Config struct {
	// Endpoint is the OTLP/HTTP receiver's base URL (http://collector:4318); traces are
	// posted to its /v1/traces. Empty: tracing is off.
	Endpoint string
	// SampleRatio is the share of requests traced, 0 to 1.
	SampleRatio float64
	// ServiceName and Version name the process in the traces.
	ServiceName, Version string
	// BatchTimeout is the longest a finished span waits before it is sent (0: 5 s).
	BatchTimeout time.Duration
}

// Tracing is the process's tracer provider.
type Tracing struct {
	sdk      *sdktrace.TracerProvider
	provider trace.TracerProvider
}

// New builds the provider; with no endpoint it is a no-op one that costs nothing.
func New(c Config) (*Tracing, error) {
	if c.Endpoint == "" {
		return &Tracing{provider: noop.NewTracerProvider()}, nil
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(strings.TrimSuffix(c.Endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", c.ServiceName), attribute.String("service.version", c.Version)))
	if err != nil {
		return nil, err
	}
	var batch []sdktrace.BatchSpanProcessorOption
	if c.BatchTimeout > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(c.BatchTimeout))
	}
	sdk := sdktrace.NewTracerProvider(
		// Requests are always roots (see Tracer), so the ratio decides every trace.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
		sdktrace.WithBatcher(exp, batch...),
		sdktrace.WithResource(res),
	)
	return &Tracing{sdk: sdk, provider: sdk}, nil
}

// Enabled says whether traces are exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// Tracer is the tracer of the requests' root spans, or nil when tracing is off (the
// middleware then skips spans altogether). An incoming traceparent is not continued: a
// client could otherwise choose trace ids (colliding with others') and force sampling.
func (t *Tracing) Tracer() trace.Tracer {
	if t.sdk == nil {
		return nil
	}
	return t.provider.Tracer("assistant")
}

// ForceFlush sends the finished spans now.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// Shutdown sends what is left and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// Start starts a span named name as a child of the span in ctx, with that span's provider;
// without a sampled span in ctx it starts nothing and costs almost nothing.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsSampled() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer("assistant").Start(ctx, name, opts...)
}

// Fail marks span failed with a short reason (an error code, never a provider's text).
func Fail(span trace.Span, reason string) {
	span.SetStatus(codes.Error, reason)
}

// QueryTracer makes a span of every query run inside a traced request (pgx calls it for
// Query, QueryRow and Exec, the transactions' BEGIN and COMMIT included). The span is named
// after the sqlc query ("-- name: GetUser :one" becomes "db GetUser"), else the
// statement's first word; the SQL goes in db.query.text, the arguments never.
type QueryTracer struct{}

var _ pgx.QueryTracer = QueryTracer{}

type spanKey struct{}

func (QueryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx
	}
	ctx, span := Start(ctx, "db "+queryName(data.SQL), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", data.SQL)))
	return context.WithValue(ctx, spanKey{}, span)
}

func (QueryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	if data.Err != nil && !errors.Is(data.Err, pgx.ErrNoRows) {
		Fail(span, "query failed")
	}
	span.End()
}

// queryName is sqlc's name of the query, else the statement's first word.
func queryName(sql string) string {
	s := strings.TrimSpace(sql)
	if rest, ok := strings.CutPrefix(s, "-- name: "); ok {
		if name, _, ok := strings.Cut(rest, " "); ok {
			return name
		}
	}
	if i := strings.IndexAny(s, " \n\t;"); i > 0 {
		s = s[:i]
	}
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.ToUpper(s)
}
