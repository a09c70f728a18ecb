package assistant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// APIError is an error response of the API: its status and the envelope every error
// carries. Every call of a Client returns one, reachable with errors.As, for any status
// whose body is the envelope (the generated JSON4xx fields stay empty).
type APIError struct {
	StatusCode int
	Code       ErrorBodyCode
	Message    string
	// RequestID equals the response's X-Request-ID and the server's log lines.
	RequestID string
	Details   []FieldError
	// RetryAfter is the response's Retry-After (429 and 503), zero when absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("assistant: %d %s: %s (request %s)", e.StatusCode, e.Code, e.Message, e.RequestID)
	for _, d := range e.Details {
		s += fmt.Sprintf("; %s: %s", d.Field, d.Message)
	}
	return s
}

// maxErrorBody bounds what is read of an error response: an envelope is a few hundred bytes.
const maxErrorBody = 1 << 20

// errorDoer turns every error response whose body is the envelope into an *APIError, so a
// caller checks one error value instead of a status and a field per status. Other
// responses pass through untouched (GET /health's 503 has the health body, not an envelope).
type errorDoer struct{ next HttpRequestDoer }

func (d errorDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.next.Do(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("assistant: reading the %d response: %w", resp.StatusCode, err)
	}
	if e := envelope(resp, body); e != nil {
		return nil, e
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// envelope decodes an error envelope, or returns nil when body is not one.
func envelope(resp *http.Response, body []byte) *APIError {
	var env Error
	if json.Unmarshal(body, &env) != nil || env.Error.Code == "" {
		return nil
	}
	e := fromBody(env.Error)
	e.StatusCode = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func fromBody(b ErrorBody) *APIError {
	e := &APIError{Code: b.Code, Message: b.Message, RequestID: b.RequestId}
	if b.Details != nil {
		e.Details = *b.Details
	}
	return e
}
