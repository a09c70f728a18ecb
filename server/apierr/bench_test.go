package apierr_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/logging"
)

// BenchmarkWrite writes a validation envelope with two details.
func BenchmarkWrite(b *testing.B) {
	log := logging.New(io.Discard, nil)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/conversations", nil)
	req = req.WithContext(logging.WithRequestID(req.Context(), "0b7d5a0e-8f3c-4b8e-9a53-1f1d8e0b6c2a"))
	err := apierr.Validation(api.FieldError{Field: "body.title", Message: "maximum string length is 200"},
		api.FieldError{Field: "body", Message: `property "owner" is unsupported`})
	b.ReportAllocs()
	for b.Loop() {
		apierr.Write(httptest.NewRecorder(), req, log, err)
	}
}
