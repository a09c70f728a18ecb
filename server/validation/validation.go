// Package validation checks every request against the OpenAPI document before a handler
// runs, and turns each kind of failure into the error envelope with a field-level detail.
// It is the only place where the shape of a request is checked.
package validation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	nethttpmw "github.com/oapi-codegen/nethttp-middleware"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// uuidPattern accepts every UUID version; kin-openapi's RFC 4122 pattern rejects v7.
const uuidPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// validEmail accepts a bare address (no display name) that net/mail parses, the same
// check the generated Email type applies when the body is bound, so the two never disagree.
func validEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return errors.New("not an email address")
	}
	return nil
}

// SchemaOptions are the schema validation options used for requests, and in tests for
// responses: all errors at once, no schema dump in messages, uuid and email checked.
func SchemaOptions() []openapi3.SchemaValidationOption {
	return []openapi3.SchemaValidationOption{
		openapi3.MultiErrors(),
		openapi3.DisableSchemaErrorDetails(),
		openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(uuidPattern)),
		openapi3.WithStringFormatValidator("email", openapi3.NewCallbackValidator(validEmail)),
	}
}

// Middleware validates requests against spec. authenticate is called for each security
// scheme of the matched operation (kin-openapi's AuthenticationFunc); the *apierr.Error it
// returns is the answer (any other error is a 401).
// spec is modified (its servers are kept, host matching is off), so pass a private copy.
func Middleware(spec *openapi3.T, authenticate openapi3filter.AuthenticationFunc, log *slog.Logger) func(http.Handler) http.Handler {
	return nethttpmw.OapiRequestValidatorWithOptions(spec, &nethttpmw.Options{
		SilenceServersWarning: true,
		Options: openapi3filter.Options{
			MultiError:              true,
			AuthenticationFunc:      authenticate,
			SchemaValidationOptions: SchemaOptions(),
		},
		ErrorHandlerWithOpts: func(ctx context.Context, err error, w http.ResponseWriter, r *http.Request, _ nethttpmw.ErrorHandlerOpts) {
			apierr.Write(w, r, log, Map(err))
		},
	})
}

// BodilessMiddleware validates everything but the body: for uploads, whose bodies the
// validator would read whole into memory (twice: once for the schema, once for the
// security check). The upload handler checks its parts as it streams them.
func BodilessMiddleware(spec *openapi3.T, authenticate openapi3filter.AuthenticationFunc, log *slog.Logger) func(http.Handler) http.Handler {
	return nethttpmw.OapiRequestValidatorWithOptions(spec, &nethttpmw.Options{
		SilenceServersWarning: true,
		DiscardValidatedValue: true,
		Options: openapi3filter.Options{
			MultiError:              true,
			ExcludeRequestBody:      true,
			AuthenticationFunc:      authenticate,
			SchemaValidationOptions: SchemaOptions(),
		},
		ErrorHandlerWithOpts: func(ctx context.Context, err error, w http.ResponseWriter, r *http.Request, _ nethttpmw.ErrorHandlerOpts) {
			apierr.Write(w, r, log, Map(err))
		},
	})
}

type bodyKey struct{}

// Split sends requests for which streamed(r) holds through bodiless, with the body hidden
// from it and handed back to the handler, and gives them until readTimeout to arrive;
// every other request goes through full.
func Split(streamed func(*http.Request) bool, readTimeout time.Duration, full, bodiless func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		f := full(next)
		b := bodiless(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body, ok := r.Context().Value(bodyKey{}).(io.ReadCloser); ok {
				r.Body = body
			}
			next.ServeHTTP(w, r)
		}))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !streamed(r) {
				f.ServeHTTP(w, r)
				return
			}
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(readTimeout))
			body := r.Body
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
			r.Body = http.NoBody
			b.ServeHTTP(w, r)
		})
	}
}

// Map turns a validation failure into the envelope's error. The most fundamental problem
// wins: an oversize body, then missing credentials, then the wrong media type, then an
// unparseable body; otherwise every field problem is listed in one 422.
func Map(err error) *apierr.Error {
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return apierr.ErrNotFound
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return apierr.New(http.StatusMethodNotAllowed, api.ErrorBodyCodeMethodNotAllowed, "method not allowed")
	}
	var c collector
	c.walk(err)
	switch {
	case c.tooLarge != nil:
		return apierr.TooLarge(c.tooLarge.Limit)
	case c.unauthorized != nil:
		return authError(c.unauthorized)
	case c.unsupported != "":
		return apierr.New(http.StatusUnsupportedMediaType, api.ErrorBodyCodeUnsupportedMediaType, c.unsupported)
	case c.unparseable:
		return apierr.BadRequest("the request body is not valid JSON")
	case len(c.details) > 0:
		return apierr.Validation(c.details...)
	}
	return apierr.From(fmt.Errorf("unmapped validation error: %w", err))
}

// authError is the error the authentication hook returned (an *apierr.Error: a 401 with
// its reason, or a 503 when the check itself could not run), else a plain 401.
func authError(err *openapi3filter.SecurityRequirementsError) *apierr.Error {
	for _, e := range err.Errors {
		var ae *apierr.Error
		if errors.As(e, &ae) {
			return ae
		}
	}
	return apierr.ErrUnauthorized
}

type collector struct {
	tooLarge     *http.MaxBytesError
	unauthorized *openapi3filter.SecurityRequirementsError
	unsupported  string
	unparseable  bool
	details      []api.FieldError
}

// walk uses a type switch rather than errors.As: a *RequestError unwraps to a MultiError,
// and errors.As would skip the RequestError that names the parameter.
func (c *collector) walk(err error) {
	switch e := err.(type) {
	case openapi3.MultiError:
		for _, inner := range e {
			c.walk(inner)
		}
	case *openapi3filter.SecurityRequirementsError:
		c.unauthorized = e
	case *openapi3filter.RequestError:
		c.request(e)
	default:
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			c.tooLarge = mb
			return
		}
		c.details = append(c.details, api.FieldError{Field: "request", Message: "is not valid"})
	}
}

func (c *collector) request(e *openapi3filter.RequestError) {
	var mb *http.MaxBytesError
	if errors.As(e, &mb) {
		c.tooLarge = mb
		return
	}
	field := "body"
	if e.Parameter != nil {
		field = e.Parameter.In + "." + e.Parameter.Name
	}
	if e.RequestBody != nil && e.Err == nil && strings.HasPrefix(e.Reason, "header Content-Type has unexpected value") {
		c.unsupported = "the request body must be " + mediaTypes(e.RequestBody)
		return
	}
	var pe *openapi3filter.ParseError
	if e.RequestBody != nil && errors.As(e.Err, &pe) {
		c.unparseable = true
		return
	}
	if e.RequestBody != nil && e.Reason == "reading failed" {
		c.unparseable = true
		return
	}
	if errors.Is(e.Err, openapi3filter.ErrInvalidRequired) {
		c.details = append(c.details, api.FieldError{Field: field, Message: "is required"})
		return
	}
	if errors.Is(e.Err, openapi3filter.ErrInvalidEmptyValue) {
		c.details = append(c.details, api.FieldError{Field: field, Message: "must not be empty"})
		return
	}
	before := len(c.details)
	c.schema(field, e.Err)
	if len(c.details) == before {
		msg := "is not valid"
		if e.Parameter != nil && e.Parameter.Schema != nil && e.Parameter.Schema.Value != nil {
			if t := e.Parameter.Schema.Value.Type; t != nil && len(t.Slice()) > 0 {
				msg = "must be a valid " + t.Slice()[0]
			}
		}
		c.details = append(c.details, api.FieldError{Field: field, Message: msg})
	}
}

// schema adds one detail per schema error found below err.
func (c *collector) schema(field string, err error) {
	switch e := err.(type) {
	case nil:
	case openapi3.MultiError:
		for _, inner := range e {
			c.schema(field, inner)
		}
	case *openapi3.SchemaError:
		f := field
		if ptr := e.JSONPointer(); len(ptr) > 0 {
			f = field + "." + strings.Join(ptr, ".")
		}
		c.details = append(c.details, api.FieldError{Field: f, Message: schemaMessage(e)})
	default:
		if u, ok := err.(interface{ Unwrap() error }); ok {
			c.schema(field, u.Unwrap())
		}
	}
}

var quotedValue = regexp.MustCompile(`^value "[^"]*" `)

func schemaMessage(e *openapi3.SchemaError) string {
	msg := e.Reason
	// Some reasons quote the rejected value; the client sent it and logs should not get it.
	msg = quotedValue.ReplaceAllString(msg, "value ")
	if e.SchemaField == "format" && e.Schema != nil {
		return fmt.Sprintf("must be a valid %s", e.Schema.Format)
	}
	return msg
}

func mediaTypes(rb *openapi3.RequestBody) string {
	var ts []string
	for t := range rb.Content {
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return "empty"
	}
	sort.Strings(ts)
	return strings.Join(ts, " or ")
}
