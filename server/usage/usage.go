// Package usage implements GET /users/me/usage: the tokens a user's replies used, by day
// and model, and the daily budget.
package usage

import (
	"context"
	"errors"

	"assistant/gen/api"
)

// Usage implements the usage operation of the strict server.
type Usage struct{}

// GetUsage answers with the user's usage and budget.
func (h *Usage) GetUsage(ctx context.Context, req api.GetUsageRequestObject) (api.GetUsageResponseObject, error) {
	return nil, errors.New("not implemented")
}
