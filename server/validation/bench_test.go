package validation_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/go-chi/chi/v5"

	"assistant/gen/api"
	"assistant/server/logging"
	"assistant/server/validation"
)

func validator(b *testing.B) http.Handler {
	spec, err := api.GetSpec()
	if err != nil {
		b.Fatal(err)
	}
	allow := func(context.Context, *openapi3filter.AuthenticationInput) error { return nil }
	v := validation.New(spec, "/api/v1", allow, logging.New(io.Discard, nil))
	r := chi.NewRouter()
	r.Route("/api/v1", func(r chi.Router) {
		r.With(v.Middleware).Post("/conversations", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})
	})
	return r
}

// BenchmarkValidate validates a typical JSON body, and an invalid one (which must not cost
// more than a valid one: a flood of bad requests must not be dearer than good traffic).
func BenchmarkValidate(b *testing.B) {
	h := validator(b)
	for name, c := range map[string]struct {
		body   string
		status int
	}{
		"valid":   {`{"title":"Trip to Lisbon","system_prompt":"Be brief.","model":"gpt-4o-mini"}`, http.StatusNoContent},
		"invalid": {`{"title":"","owner":"eve","model":5}`, http.StatusUnprocessableEntity},
		// A NUL: the body is decoded a second time to name the field.
		"nul": {`{"title":"Trip to\u0000Lisbon","system_prompt":"Be brief.","model":"gpt-4o-mini"}`, http.StatusUnprocessableEntity},
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api/v1/conversations", strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer x")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != c.status {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
