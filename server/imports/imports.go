// Package imports implements POST /imports: conversations brought from a ChatGPT data
// export, an Open WebUI export, or this API's own JSON export.
package imports

import (
	"context"
	"errors"

	"assistant/gen/api"
)

// Imports implements the import operation of the strict server.
type Imports struct{}

// ImportConversations reads an export file as a stream and stores its conversations.
func (h *Imports) ImportConversations(ctx context.Context, req api.ImportConversationsRequestObject) (api.ImportConversationsResponseObject, error) {
	return nil, errors.New("not implemented")
}
