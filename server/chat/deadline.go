package chat

import (
	"context"
	"net/http"
	"time"

	"assistant/gen/api"
)

// LiftWriteDeadline is a strict middleware that lifts the server's write timeout for the
// synchronous send, as streams do for themselves: its answer comes when the reply is
// complete, which may rightly take longer than HTTP_WRITE_TIMEOUT, and a connection closed
// by the timeout would lose an answer the server has. The reply's own time is bounded by
// the provider's idle timeout; a client that leaves ends the wait (499). The operation is
// told by its generated request type, not by a name written here.
func LiftWriteDeadline(f api.StrictHandlerFunc, _ string) api.StrictHandlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		if _, ok := request.(api.SendMessageRequestObject); ok {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		return f(ctx, w, r, request)
	}
}
