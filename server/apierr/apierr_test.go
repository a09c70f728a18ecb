package apierr_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"assistant/server/apierr"
	"assistant/server/logging"
)

func TestWriteHidesInternalErrors(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := logging.New(&logs, nil)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(logging.WithRequestID(req.Context(), "rid"))
	rec := httptest.NewRecorder()
	apierr.Write(rec, req, log, fmt.Errorf("query users: %w", errors.New("pq: password authentication failed for user app")))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "password") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var body map[string]map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if body["error"]["code"] != "internal_error" || body["error"]["request_id"] != "rid" {
		t.Errorf("body %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "password authentication failed") || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("the cause is not logged once:\n%s", logs.String())
	}
}

func TestErrorsIsByCode(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("wrapped: %w", apierr.New(404, "not_found", "no such conversation"))
	if !errors.Is(err, apierr.ErrNotFound) || errors.Is(err, apierr.ErrForbidden) {
		t.Error("errors.Is by code")
	}
}
