// Package validation checks every request against the OpenAPI document before a handler
// runs, and turns each kind of failure into the error envelope with a field-level detail.
// It is the only place where the shape of a request is checked.
package validation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// uuidPattern accepts every UUID version; kin-openapi's RFC 4122 pattern rejects v7.
const uuidPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// ValidEmail accepts a bare address (no display name) that net/mail parses, the same
// check the generated Email type applies when the body is bound, so the two never disagree;
// and so does the form the server stores (trimmed, lower-cased: net/mail takes Unicode
// spaces such as U+2028 as part of a name, and trimming "\u2028@example.com" would leave
// "@example.com").
func ValidEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return errors.New("not an email address")
	}
	n := strings.ToLower(strings.TrimSpace(s))
	if a, err := mail.ParseAddress(n); err != nil || a.Address != n {
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
		openapi3.WithStringFormatValidator("email", openapi3.NewCallbackValidator(ValidEmail)),
	}
}

// Validator checks requests against the spec's operations. It runs inside the chi router,
// after routing: the operation is found from chi's matched route pattern, so a request is
// routed once, not a second time by a router of the validator's own.
type Validator struct {
	routes map[string]*routers.Route // "METHOD /api/v1/path/{param}"
	params map[*routers.Route]declared
	// checked is each route as kin-openapi checks it: the same operation without its
	// security requirements, which the validator decides first, before the body is read.
	checked      map[*routers.Route]*routers.Route
	authenticate openapi3filter.AuthenticationFunc
	opts         *openapi3filter.Options
	log          *slog.Logger
}

// New returns a validator for the operations of spec mounted under basePath. authenticate
// is called for each security scheme of the matched operation (kin-openapi's
// AuthenticationFunc), before anything else of the request is looked at: a request without
// valid credentials costs what a 401 costs, whatever its body. The *apierr.Error it returns
// is the answer (any other error is a 401).
func New(spec *openapi3.T, basePath string, authenticate openapi3filter.AuthenticationFunc, log *slog.Logger) *Validator {
	return newValidator(spec, basePath, authenticate, false, log)
}

// NewBodiless is New for requests whose body the handler reads itself as it streams
// (uploads): it checks everything but the body (see Split).
func NewBodiless(spec *openapi3.T, basePath string, authenticate openapi3filter.AuthenticationFunc, log *slog.Logger) *Validator {
	return newValidator(spec, basePath, authenticate, true, log)
}

func newValidator(spec *openapi3.T, basePath string, authenticate openapi3filter.AuthenticationFunc, bodiless bool, log *slog.Logger) *Validator {
	v := &Validator{routes: map[string]*routers.Route{}, params: map[*routers.Route]declared{},
		checked: map[*routers.Route]*routers.Route{}, authenticate: authenticate, log: log, opts: &openapi3filter.Options{
			MultiError:              true,
			SchemaValidationOptions: SchemaOptions(),
			// The handler binds the value that was validated (exact keys) instead of decoding
			// the body again: no case-insensitive second reading can slip past the schema.
			KeepValidatedValue: !bodiless,
			ExcludeRequestBody: bodiless,
		}}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			route := &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
			v.routes[method+" "+basePath+path] = route
			v.params[route] = declaredParams(item, op)
			unsecured := *op
			unsecured.Security = &openapi3.SecurityRequirements{}
			checked := *route
			checked.Operation = &unsecured
			v.checked[route] = &checked
		}
	}
	return v
}

// Middleware validates each request, answering failures with the envelope. Besides the
// spec's rules, text that PostgreSQL could not store (a NUL, bytes that are not UTF-8) is
// refused here, in any parameter or body string, with the other details of the same 422.
func (v *Validator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := chi.RouteContext(r.Context())
		route := v.routes[r.Method+" "+rc.RoutePattern()]
		if route == nil {
			apierr.Write(w, r, v.log, apierr.ErrNotFound)
			return
		}
		params := make(map[string]string, len(rc.URLParams.Keys))
		for i, k := range rc.URLParams.Keys {
			params[k] = rc.URLParams.Values[i]
		}
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: v.opts}
		if err := v.checkSecurity(r.Context(), in); err != nil {
			apierr.Write(w, r, v.log, err)
			return
		}
		in.Route = v.checked[route]
		var body []byte
		if route.Operation.RequestBody != nil && !v.opts.ExcludeRequestBody && r.Body != nil && r.Body != http.NoBody {
			// Read here so that the raw bytes can be checked; the validator reads them again
			// from memory. A read error reaches the validator unchanged, to be mapped as before.
			var err error
			body, err = io.ReadAll(r.Body)
			var tooLarge *http.MaxBytesError
			if err != nil && !errors.As(err, &tooLarge) {
				// A body cut short (the client left, or stopped sending until the read
				// timeout): the validator would report it as failed credentials.
				if apierr.ClientClosed(r.Context()) {
					apierr.Write(w, r, v.log, r.Context().Err())
				} else {
					apierr.Write(w, r, v.log, apierr.BadRequest("the request body could not be read in full"))
				}
				return
			}
			var rest io.Reader = bytes.NewReader(body)
			if err != nil {
				rest = io.MultiReader(rest, errReader{err})
				body = nil
			}
			r.Body = io.NopCloser(rest)
		}
		text := textDetails(r, params, v.params[route], body)
		err := openapi3filter.ValidateRequest(r.Context(), in)
		if err == nil && len(text) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		apierr.Write(w, r, v.log, withText(err, text))
	})
}

// checkSecurity decides the operation's security requirements (the operation's own, else the
// document's): the first requirement whose every scheme authenticates wins; an empty one
// lets anyone through. It never touches the body.
func (v *Validator) checkSecurity(ctx context.Context, in *openapi3filter.RequestValidationInput) *apierr.Error {
	route := in.Route
	security := route.Operation.Security
	if security == nil {
		security = &route.Spec.Security
	}
	if len(*security) == 0 {
		return nil
	}
	var first error
	for _, req := range *security {
		err := v.requirement(ctx, in, req)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	var ae *apierr.Error
	if errors.As(first, &ae) {
		return ae
	}
	return apierr.ErrUnauthorized
}

func (v *Validator) requirement(ctx context.Context, in *openapi3filter.RequestValidationInput, req openapi3.SecurityRequirement) error {
	names := make([]string, 0, len(req))
	for name := range req {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ref := in.Route.Spec.Components.SecuritySchemes[name]
		if ref == nil || ref.Value == nil {
			return fmt.Errorf("security scheme %q is not defined", name)
		}
		if err := v.authenticate(ctx, &openapi3filter.AuthenticationInput{
			RequestValidationInput: in, SecuritySchemeName: name, SecurityScheme: ref.Value, Scopes: req[name],
		}); err != nil {
			return err
		}
	}
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// withText adds the text details to the validator's answer: to its 422, or as a 422 of
// their own. A more fundamental failure (401, 413, 415, an unparseable body) stays as is.
func withText(err error, text []api.FieldError) *apierr.Error {
	if err == nil {
		return apierr.Validation(text...)
	}
	e := Map(err)
	if len(text) == 0 || e.Status != http.StatusUnprocessableEntity || e.Code != api.ErrorBodyCodeValidationError {
		return e
	}
	return apierr.Validation(append(slices.Clone(e.Details), text...)...)
}

type bodyKey struct{}

// Split sends requests for which streamed(r) holds (uploads) through bodiless, a validator
// that checks everything but the body: the full one would read the whole body into memory
// (twice: once for the schema, once for the security check). The body is hidden from it and
// handed back to the handler, which checks the parts as it streams them; such requests get
// until readTimeout to arrive. Every other request goes through full.
func Split(streamed func(*http.Request) bool, readTimeout time.Duration, full, bodiless *Validator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		f := full.Middleware(next)
		b := bodiless.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
