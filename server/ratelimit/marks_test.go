package ratelimit_test

import (
	"io"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"assistant/gen/api"
	"assistant/server/logging"
	"assistant/server/ratelimit"
)

func specWith(t *testing.T, operationID, mark string) *openapi3.T {
	t.Helper()
	doc := `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /x:
    post:
      operationId: ` + operationID + `
      x-rate-limit: ` + mark + `
      responses: {"204": {description: ok}}
`
	spec, err := openapi3.NewLoader().LoadFromData([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// What is limited is read from the spec; a mark that names no handler (an operation renamed
// in the spec but not in Go, or the other way round) or an unknown mark stops the start-up
// instead of silently leaving the operation unlimited.
func TestMarksAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	log := logging.New(io.Discard, nil)
	cfg := ratelimit.Config{Enabled: true, Requests: 1, GlobalRequests: 1}
	handlers := func(name string) bool { return name == "ChangePassword" }
	if _, err := ratelimit.New(cfg, specWith(t, "changePassword", "account"), "/api/v1", handlers, log); err != nil {
		t.Errorf("a known operation: %v", err)
	}
	for _, c := range []struct{ id, mark, want string }{
		{"changePasswordRenamed", "account", "no handler"},
		{"changePassword", "per-ip", "unknown x-rate-limit"},
	} {
		_, err := ratelimit.New(cfg, specWith(t, c.id, c.mark), "/api/v1", handlers, log)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s marked %s: %v, want an error with %q", c.id, c.mark, err, c.want)
		}
	}
	// The real spec's marks all name handlers of the real server.
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			if op.Extensions["x-rate-limit"] != nil {
				marked++
			}
		}
	}
	if marked != 8 {
		t.Errorf("%d operations of the spec are rate limited, want 8 (register, login, refresh, password reset, public share read; change password, create key, update me)", marked)
	}
}
