package recovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"assistant/server/logging"
	"assistant/server/recovery"
)

func TestDoTurnsAPanicIntoALoggedError(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, nil)
	ctx := logging.WithRequestID(context.Background(), "req-1")
	err := recovery.Do(ctx, log, "render", func() error {
		var s []int
		_ = s[3]
		return nil
	})
	var pe *recovery.PanicError
	if !errors.As(err, &pe) || pe.What != "render" || !strings.Contains(err.Error(), "index out of range") {
		t.Fatalf("err = %v, want a PanicError from render", err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if line["level"] != "ERROR" || line["request_id"] != "req-1" || line["in"] != "render" ||
		!strings.Contains(line["stack"].(string), "recovery_test.go") {
		t.Fatalf("log line = %v", line)
	}
}

func TestDoPassesErrorsThrough(t *testing.T) {
	t.Parallel()
	want := errors.New("plain")
	if err := recovery.Do(context.Background(), logging.Discard(), "x", func() error { return want }); err != want {
		t.Fatalf("err = %v", err)
	}
}

func TestGoReportsThePanic(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	recovery.Go(context.Background(), logging.Discard(), "worker", func() error { panic("boom") }, func(err error) { got <- err })
	var pe *recovery.PanicError
	if err := <-got; !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("err = %v", err)
	}
}
