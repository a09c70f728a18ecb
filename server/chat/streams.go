package chat

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// streamSlots counts each user's open event streams on this process (SSE_STREAMS_PER_USER).
// Every open stream holds a request, a connection and a goroutine until its client leaves;
// without a cap one account could hold any number of them.
type streamSlots struct {
	mu   sync.Mutex
	open map[uuid.UUID]int
}

// acquireStream takes one of the user's stream slots, or answers 429 when all are taken.
// The returned release is idempotent; it also runs by itself when the request ends, so a
// slot cannot outlive its stream whatever happens to the response.
func (c *Chat) acquireStream(ctx context.Context, userID uuid.UUID) (release func(), err error) {
	s := &c.streams
	s.mu.Lock()
	if c.StreamsPerUser > 0 && s.open[userID] >= c.StreamsPerUser {
		s.mu.Unlock()
		return nil, apierr.New(http.StatusTooManyRequests, api.ErrorBodyCodeRateLimited,
			"too many event streams are open for this account; close one first").WithRetryAfter(time.Second)
	}
	if s.open == nil {
		s.open = map[uuid.UUID]int{}
	}
	s.open[userID]++
	s.mu.Unlock()
	c.Metrics.StreamOpened()
	var once sync.Once
	release = func() {
		once.Do(func() {
			c.Metrics.StreamClosed()
			s.mu.Lock()
			if s.open[userID]--; s.open[userID] <= 0 {
				delete(s.open, userID)
			}
			s.mu.Unlock()
		})
	}
	context.AfterFunc(ctx, release)
	return release, nil
}

// OpenStreams is the number of event streams the user has open on this process.
func (c *Chat) OpenStreams(userID uuid.UUID) int {
	c.streams.mu.Lock()
	defer c.streams.mu.Unlock()
	return c.streams.open[userID]
}
