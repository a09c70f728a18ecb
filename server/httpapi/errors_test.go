package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/testutil/apitest"
)

// Every class of failure answers with the envelope, the right status and code, and the
// request id of the X-Request-ID header (apitest checks the last two on every response).
func TestErrorEnvelopeForEveryClass(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("owner@example.com", "correct horse battery").AccessToken
	v7 := uuid.Must(uuid.NewV7()).String()

	type field struct{ name, contains string }
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		ctype   string // overrides the JSON content type when set
		auth    bool
		status  int
		code    api.ErrorBodyCode
		fields  []field
		headers map[string]string
	}{
		{name: "unknown route under the API", method: "GET", path: "/api/v1/nope", status: 404, code: api.ErrorBodyCodeNotFound},
		{name: "unknown route outside the API", method: "GET", path: "/nope", status: 404, code: api.ErrorBodyCodeNotFound},
		{name: "wrong method", method: "DELETE", path: "/api/v1/health", status: 405, code: api.ErrorBodyCodeMethodNotAllowed,
			headers: map[string]string{"Allow": "GET"}},
		{name: "wrong method on an operation with a body", method: "GET", path: "/api/v1/auth/login", status: 405, code: api.ErrorBodyCodeMethodNotAllowed,
			headers: map[string]string{"Allow": "POST"}},
		{name: "truncated JSON", method: "POST", path: "/api/v1/auth/register", body: `{"email":`, status: 400, code: api.ErrorBodyCodeBadRequest},
		{name: "JSON of the wrong kind", method: "POST", path: "/api/v1/auth/register", body: `[1,2]`, status: 422, code: api.ErrorBodyCodeValidationError,
			fields: []field{{"body", ""}}},
		{name: "wrong content type", method: "POST", path: "/api/v1/auth/login", body: `email=a`, ctype: "application/x-www-form-urlencoded",
			status: 415, code: api.ErrorBodyCodeUnsupportedMediaType},
		{name: "missing body", method: "POST", path: "/api/v1/auth/login", status: 422, code: api.ErrorBodyCodeValidationError,
			fields: []field{{"body", "required"}}},
		{name: "body over the limit", method: "POST", path: "/api/v1/auth/login",
			body: `{"email":"a@example.com","password":"` + strings.Repeat("x", 1<<20) + `"}`, status: 413, code: api.ErrorBodyCodePayloadTooLarge},
		{name: "schema violations, each named", method: "POST", path: "/api/v1/auth/register",
			body:   map[string]any{"email": "not-an-email", "password": "short", "role": "admin"},
			status: 422, code: api.ErrorBodyCodeValidationError,
			fields: []field{{"body.email", "email"}, {"body.password", "length"}, {"body", `"role"`}}},
		{name: "wrong type", method: "POST", path: "/api/v1/auth/login", body: map[string]any{"email": 5, "password": true},
			status: 422, code: api.ErrorBodyCodeValidationError, fields: []field{{"body.email", ""}, {"body.password", ""}}},
		{name: "query parameter out of range", method: "GET", path: "/api/v1/users/me/api-keys?limit=1000", auth: true,
			status: 422, code: api.ErrorBodyCodeValidationError, fields: []field{{"query.limit", "100"}}},
		{name: "query parameter of the wrong type", method: "GET", path: "/api/v1/users/me/api-keys?limit=abc", auth: true,
			status: 422, code: api.ErrorBodyCodeValidationError, fields: []field{{"query.limit", ""}}},
		{name: "cursor not made by the server", method: "GET", path: "/api/v1/users/me/api-keys?cursor=bm9wZQ", auth: true,
			status: 422, code: api.ErrorBodyCodeValidationError, fields: []field{{"query.cursor", ""}}},
		{name: "malformed id in the path", method: "DELETE", path: "/api/v1/users/me/api-keys/not-a-uuid", auth: true,
			status: 422, code: api.ErrorBodyCodeValidationError, fields: []field{{"path.key_id", "uuid"}}},
		{name: "a UUIDv7 is a valid id (and not found)", method: "DELETE", path: "/api/v1/users/me/api-keys/" + v7, auth: true,
			status: 404, code: api.ErrorBodyCodeNotFound},
		{name: "no credentials", method: "GET", path: "/api/v1/users/me", status: 401, code: api.ErrorBodyCodeUnauthorized,
			headers: map[string]string{"WWW-Authenticate": "Bearer"}},
		{name: "credentials before body checks", method: "PATCH", path: "/api/v1/users/me", body: `{"display_name":`,
			status: 401, code: api.ErrorBodyCodeUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := env.Request(c.method, c.path, c.body)
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.auth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			r := env.Do(req)
			if r.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, c.status, r.Body)
			}
			e := r.Envelope(t)
			if e.Code != c.code {
				t.Errorf("code %q, want %q", e.Code, c.code)
			}
			for _, f := range c.fields {
				found := false
				for _, d := range derefDetails(e.Details) {
					if d.Field == f.name && strings.Contains(d.Message, f.contains) {
						found = true
					}
				}
				if !found {
					t.Errorf("no detail for %s containing %q in %+v", f.name, f.contains, derefDetails(e.Details))
				}
			}
			for k, v := range c.headers {
				if got := r.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func derefDetails(d *[]api.FieldError) []api.FieldError {
	if d == nil {
		return nil
	}
	return *d
}

// A body without Content-Length (chunked) is cut off at the limit all the same.
func TestChunkedBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"email":"a@example.com","password":"`))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 40; i++ {
			if _, err := pw.Write(chunk); err != nil {
				break
			}
		}
		_ = pw.Close()
	}()
	req := env.Request(http.MethodPost, "/api/v1/auth/login", pr)
	r := env.Do(req)
	if r.StatusCode != http.StatusRequestEntityTooLarge || r.Envelope(t).Code != api.ErrorBodyCodePayloadTooLarge {
		t.Fatalf("got %d %s", r.StatusCode, r.Body)
	}
}

// The server makes the request id; a client's X-Request-ID is neither trusted nor echoed.
func TestRequestIDIsServerGenerated(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	req := env.Request(http.MethodGet, "/api/v1/nope", nil)
	req.Header.Set("X-Request-ID", "client-chosen")
	r := env.Do(req)
	id := r.Header.Get("X-Request-ID")
	if id == "client-chosen" || uuid.Validate(id) != nil {
		t.Fatalf("X-Request-ID = %q, want a server-made UUID", id)
	}
	r2 := env.Call(http.MethodGet, "/api/v1/health/live", nil)
	if r2.Header.Get("X-Request-ID") == id {
		t.Fatal("two requests share an id")
	}
}

// With the database unreachable, an operation that needs it is a 503 the client may retry,
// never a 500.
func TestDatabaseDownIs503(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("a@example.com", "correct horse battery").AccessToken
	env.Pool.Close()
	r := env.As(token, http.MethodGet, "/api/v1/users/me", nil)
	if r.StatusCode != http.StatusServiceUnavailable || r.Envelope(t).Code != api.ErrorBodyCodeServiceUnavailable {
		t.Fatalf("got %d %s", r.StatusCode, r.Body)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}
