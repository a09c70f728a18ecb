// Package logging builds the process's JSON logger and carries request-scoped attributes
// (request id, user id) in the context, so every line written while serving a request
// names the request without each caller repeating it.
package logging

import (
	"context"
	"io"
	"log/slog"
)

// New returns a JSON logger at the level that adds the request attributes found in the
// context of each *Context call (InfoContext, ErrorContext, ...).
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(contextHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// Discard is a logger that writes nothing, for tools and tests that do not read logs.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

type ctxKey struct{}

// fields are filled in as a request proceeds: the id first, the user once authenticated.
// It is a pointer so that inner middleware can add to what outer middleware logs.
type fields struct {
	requestID string
	userID    string
	traceID   string
}

// WithRequestID returns a context whose log lines carry request_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, &fields{requestID: id})
}

// RequestID is the request id in the context, or "".
func RequestID(ctx context.Context) string {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		return f.requestID
	}
	return ""
}

// SetUserID records the authenticated user for the rest of the request's log lines,
// the access-log line included.
func SetUserID(ctx context.Context, id string) {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		f.userID = id
	}
}

// SetTraceID records the request's trace id (of a trace that is exported) for the rest of
// its log lines, so a line leads to its trace and a trace to its lines.
func SetTraceID(ctx context.Context, id string) {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		f.traceID = id
	}
}

// TraceID is the trace id recorded with SetTraceID, or "".
func TraceID(ctx context.Context) string {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		return f.traceID
	}
	return ""
}

// UserID is the user id recorded with SetUserID, or "".
func UserID(ctx context.Context) string {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		return f.userID
	}
	return ""
}

type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		r.AddAttrs(slog.String("request_id", f.requestID))
		if f.userID != "" {
			r.AddAttrs(slog.String("user_id", f.userID))
		}
		if f.traceID != "" {
			r.AddAttrs(slog.String("trace_id", f.traceID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
