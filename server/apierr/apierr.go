// Package apierr is the one place where failures become HTTP: typed errors that carry
// their status and public message, and the writer of the error envelope that every hook
// (validator, router, strict server, panic recovery) calls.
package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"assistant/gen/api"
	"assistant/server/database"
	"assistant/server/logging"
)

// Error is a failure with a public face: status, code and a message safe to show.
// Cause, when set, is logged but never sent.
type Error struct {
	Status  int
	Code    api.ErrorBodyCode
	Message string
	Details []api.FieldError
	// RetryAfter, when positive, is sent as the Retry-After header (in whole seconds).
	RetryAfter time.Duration
	// Header holds extra response headers, such as WWW-Authenticate or Allow.
	Header http.Header
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// The With methods and Wrap return a new *Error and never change e, so a sentinel can be
// the start of a more specific error: apierr.ErrUnauthorized.WithMessage("...").

// WithMessage returns a copy of e with the public message msg.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// WithDetails returns a copy of e whose details (the fields at fault) are details.
func (e *Error) WithDetails(details ...api.FieldError) *Error {
	c := *e
	c.Details = details
	return &c
}

// WithRetryAfter returns a copy of e sent with Retry-After d (rounded up to whole seconds).
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// WithHeader returns a copy of e that also sends the response header key: value,
// replacing any value e had for key.
func (e *Error) WithHeader(key, value string) *Error {
	c := *e
	c.Header = e.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Set(key, value)
	return &c
}

// Wrap returns a copy of e whose cause, logged but never sent, is cause.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// Is makes errors.Is(err, ErrNotFound) true for every *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is and for returning as they are.
var (
	ErrNotFound     = &Error{Status: http.StatusNotFound, Code: api.ErrorBodyCodeNotFound, Message: "not found"}
	ErrUnauthorized = &Error{Status: http.StatusUnauthorized, Code: api.ErrorBodyCodeUnauthorized, Message: "authentication required",
		Header: http.Header{"Www-Authenticate": {`Bearer`}}}
	ErrForbidden   = &Error{Status: http.StatusForbidden, Code: api.ErrorBodyCodeForbidden, Message: "forbidden"}
	ErrInternal    = &Error{Status: http.StatusInternalServerError, Code: api.ErrorBodyCodeInternalError, Message: "internal error"}
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: api.ErrorBodyCodeServiceUnavailable,
		Message: "the service is temporarily unavailable", RetryAfter: 5 * time.Second}
)

// New returns an error with the status, code and public message.
func New(status int, code api.ErrorBodyCode, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// BadRequest is a 400 for a body that could not be parsed.
func BadRequest(message string) *Error {
	return New(http.StatusBadRequest, api.ErrorBodyCodeBadRequest, message)
}

// Conflict is a 409.
func Conflict(message string) *Error {
	return New(http.StatusConflict, api.ErrorBodyCodeConflict, message)
}

// Validation is a 422 naming each bad field.
func Validation(details ...api.FieldError) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: api.ErrorBodyCodeValidationError,
		Message: "the request is not valid", Details: details}
}

// TooLarge is a 413 that says the limit.
func TooLarge(limit int64) *Error {
	return New(http.StatusRequestEntityTooLarge, api.ErrorBodyCodePayloadTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes", limit))
}

// From returns err as an *Error. Text the database refused is a 422, a write for an
// account deleted meanwhile a 401, and a database that cannot be reached a 503 (the client
// may retry); anything else is an internal error whose cause is err.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case database.IsUnstorableText(err):
		// The validator refuses such text before any query (validation.ValidText); this
		// is the safety net, a 422 not a 500.
		return Validation(api.FieldError{Field: "request", Message: "must be UTF-8 text without NUL characters"}).Wrap(err)
	case database.IsUserGone(err):
		// An access token outlives its account by at most its lifetime; using it then is
		// a 401, not a 500.
		return ErrUnauthorized.WithMessage("the account no longer exists").Wrap(err)
	case database.IsUnavailable(err):
		return ErrUnavailable.Wrap(err)
	}
	return ErrInternal.Wrap(err)
}

// statusReporter is implemented by the response writer of the access-log middleware.
type statusReporter interface{ Status() int }

// headerWritten reports whether the response has started, looking through wrappers.
func headerWritten(w http.ResponseWriter) bool {
	for {
		if s, ok := w.(statusReporter); ok {
			return s.Status() != 0
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// Write sends err as the envelope. A 5xx is logged with its cause, once, here; the client
// sees only the public message. When the response has already started (a stream or a
// download failing half-way) nothing more can be sent, so it only logs. A client that has
// gone (ClientGone) gets nothing and is no error: its request's status is 499.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	ctx := r.Context()
	if ClientGone(ctx, err) {
		writeClientGone(w, r, log, err)
		return
	}
	e := From(err)
	if e.Status >= 500 {
		log.ErrorContext(ctx, "request failed", slog.Int("status", e.Status), slog.String("code", string(e.Code)),
			slog.Any("error", err))
	}
	if headerWritten(w) {
		log.WarnContext(ctx, "error after the response started", slog.Any("error", err))
		return
	}
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	setErrorCode(w, string(e.Code))
	w.WriteHeader(e.Status)
	body := api.Error{Error: api.ErrorBody{Code: e.Code, Message: e.Message, RequestId: logging.RequestID(ctx)}}
	if len(e.Details) > 0 {
		body.Error.Details = &e.Details
	}
	_ = json.NewEncoder(w).Encode(body)
}

// QuotaExceeded is the 429 for a used-up quota (the daily token budget, the storage quota);
// resetsIn, when positive, is sent as Retry-After.
func QuotaExceeded(message string, resetsIn time.Duration) *Error {
	return New(http.StatusTooManyRequests, api.ErrorBodyCodeQuotaExceeded, message).WithRetryAfter(resetsIn)
}
