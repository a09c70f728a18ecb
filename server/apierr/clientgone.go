package apierr

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// StatusClientClosedRequest is the status of a request whose client went away before it
// was answered (nginx's 499 "client closed request"). It is never sent, there is nobody
// to send it to; it is what the access line says, and what a metric counts apart from
// 5xx: the server did nothing wrong.
const StatusClientClosedRequest = 499

// ClientClosed reports whether ctx, a request's context, was cancelled by its client:
// net/http cancels it, without a cause, when the connection closes. A server deadline
// (DeadlineExceeded) is not, nor is a cancellation with a cause, which is how the server
// cancels requests itself (httpserver.ErrShutdown when it cuts them off at shutdown).
func ClientClosed(ctx context.Context) bool {
	return ctx.Err() == context.Canceled && context.Cause(ctx) == context.Canceled
}

// ClientGone reports whether err is the request failing because its client went away:
// err is a cancellation and the request's own context was cancelled by the client. A
// failure that merely happens while the client leaves (a database error, a server
// deadline, the database's statement timeout) is not.
func ClientGone(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && ClientClosed(ctx)
}

// statusSetter is implemented by the access-log middleware's response writer.
type statusSetter interface{ SetStatus(code int) }

// setStatus records code as the request's status without sending anything, looking
// through wrappers.
func setStatus(w http.ResponseWriter, code int) {
	for {
		if s, ok := w.(statusSetter); ok {
			s.SetStatus(code)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// codeSetter is implemented by the access-log middleware's response writer: the code of the
// envelope sent is what the error metric counts.
type codeSetter interface{ SetErrorCode(code string) }

// setErrorCode records the envelope's code, looking through wrappers.
func setErrorCode(w http.ResponseWriter, code string) {
	for {
		if s, ok := w.(codeSetter); ok {
			s.SetErrorCode(code)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// writeClientGone ends a request whose client has gone: nothing is written to the closed
// connection, nothing is logged above DEBUG (the access line, with 499, is the record),
// and work that must outlive the request has been given its own context by its owner.
func writeClientGone(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	setStatus(w, StatusClientClosedRequest)
	log.DebugContext(r.Context(), "client closed the request", slog.Any("error", err))
}
