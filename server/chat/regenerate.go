package chat

import (
	"context"
	"errors"

	"assistant/gen/api"
)

// RegenerateMessage answers a user message again, as a new assistant sibling.
func (c *Chat) RegenerateMessage(ctx context.Context, req api.RegenerateMessageRequestObject) (api.RegenerateMessageResponseObject, error) {
	return nil, errors.New("not implemented")
}

// RegenerateMessageStream is RegenerateMessage as server-sent events.
func (c *Chat) RegenerateMessageStream(ctx context.Context, req api.RegenerateMessageStreamRequestObject) (api.RegenerateMessageStreamResponseObject, error) {
	return nil, errors.New("not implemented")
}
