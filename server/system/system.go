// Package system serves the health operations: readiness with a check of every
// dependency, and liveness with none.
package system

import (
	"context"
	"log/slog"
	"time"

	"assistant/gen/api"
	"assistant/server/recovery"
)

// Check is one dependency's readiness probe; it returns nil when the dependency answers.
type Check func(ctx context.Context) error

// Health implements the system operations of the strict server.
type Health struct {
	Version string
	Started time.Time
	// Database is always checked; Redis only when configured (nil otherwise).
	Database Check
	Redis    Check
	// Storage checks where files and exports are kept (the directories, or the bucket).
	Storage Check
	// Timeout bounds each check.
	Timeout time.Duration
	Log     *slog.Logger
}

// GetHealth runs the checks concurrently, each under Timeout. A failing check is logged
// with its cause; the response says only that it failed.
func (h *Health) GetHealth(ctx context.Context, _ api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	type result struct {
		name  string
		check api.HealthCheck
	}
	checks := map[string]Check{"database": h.Database, "storage": h.Storage}
	if h.Redis != nil {
		checks["redis"] = h.Redis
	}
	results := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			results <- result{name, h.run(ctx, name, check)}
		}()
	}
	body := api.Health{
		Status:        api.HealthStatusOk,
		Version:       h.Version,
		ApiVersion:    APIVersion(),
		UptimeSeconds: int64(time.Since(h.Started).Seconds()),
	}
	for range checks {
		r := <-results
		if r.check.Status != api.HealthCheckStatusOk {
			body.Status = api.HealthStatusDegraded
		}
		switch r.name {
		case "database":
			body.Checks.Database = r.check
		case "redis":
			c := r.check
			body.Checks.Redis = &c
		case "storage":
			body.Checks.Storage = r.check
		}
	}
	if body.Status != api.HealthStatusOk {
		return api.GetHealth503JSONResponse(body), nil
	}
	return api.GetHealth200JSONResponse(body), nil
}

func (h *Health) run(ctx context.Context, name string, check Check) api.HealthCheck {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	start := time.Now()
	err := recovery.Do(ctx, h.Log, "health check "+name, func() error { return check(ctx) })
	latency := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		h.Log.ErrorContext(ctx, "health check failed", slog.String("check", name), slog.Any("error", err))
		return api.HealthCheck{Status: api.HealthCheckStatusError, LatencyMs: latency}
	}
	return api.HealthCheck{Status: api.HealthCheckStatusOk, LatencyMs: latency}
}

// GetLiveness answers whenever the process can serve.
func (h *Health) GetLiveness(context.Context, api.GetLivenessRequestObject) (api.GetLivenessResponseObject, error) {
	return api.GetLiveness200JSONResponse{Status: api.LivenessStatusOk}, nil
}
