package auth

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// SessionFreshness is how long a session's checked state is believed: a disabled or deleted
// account, or an ended session, stops working on every replica within it.
const SessionFreshness = time.Second

type sessionState struct {
	exists, disabled, live bool
	role                   string
}

type sessionEntry struct {
	user uuid.UUID
	st   sessionState
	at   time.Time
}

// SessionCache remembers the state of sessions for SessionFreshness, so that a client's
// burst of requests costs one query a second, not one each. A nil cache remembers nothing.
type SessionCache struct {
	mu      sync.RWMutex
	entries map[uuid.UUID]sessionEntry
	max     int
	fresh   time.Duration
}

// NewSessionCache holds up to max sessions.
func NewSessionCache(max int) *SessionCache {
	return &SessionCache{entries: make(map[uuid.UUID]sessionEntry), max: max, fresh: SessionFreshness}
}

func (c *SessionCache) get(sid, uid uuid.UUID, now time.Time) (sessionState, bool) {
	if c == nil {
		return sessionState{}, false
	}
	c.mu.RLock()
	e, ok := c.entries[sid]
	c.mu.RUnlock()
	if !ok || e.user != uid || now.Sub(e.at) >= c.fresh || now.Before(e.at) {
		return sessionState{}, false
	}
	return e.st, true
}

func (c *SessionCache) put(sid, uid uuid.UUID, st sessionState, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.Sub(e.at) >= c.fresh {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max/2 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[sid] = sessionEntry{user: uid, st: st, at: now}
}

// ForgetUser drops what is remembered of the user's sessions, so that this process sees at
// once what the caller just changed (an ended session, a disabled or deleted account); other
// processes see it within SessionFreshness.
func (c *SessionCache) ForgetUser(uid uuid.UUID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.user == uid {
			delete(c.entries, k)
		}
	}
}
