// Package shares implements share links: read-only snapshots of a conversation's current
// branch that anyone with the link can read without an account.
package shares

import (
	"context"
	"errors"

	"assistant/gen/api"
)

var errTODO = errors.New("not implemented")

// Shares implements the shares operations of the strict server.
type Shares struct{}

func (h *Shares) CreateShare(ctx context.Context, req api.CreateShareRequestObject) (api.CreateShareResponseObject, error) {
	return nil, errTODO
}
func (h *Shares) ListShares(ctx context.Context, req api.ListSharesRequestObject) (api.ListSharesResponseObject, error) {
	return nil, errTODO
}
func (h *Shares) DeleteShare(ctx context.Context, req api.DeleteShareRequestObject) (api.DeleteShareResponseObject, error) {
	return nil, errTODO
}
func (h *Shares) GetPublicShare(ctx context.Context, req api.GetPublicShareRequestObject) (api.GetPublicShareResponseObject, error) {
	return nil, errTODO
}
