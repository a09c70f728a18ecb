package auth

import (
	"sync"
	"time"
)

// verified remembers access tokens whose signature and claims were checked, until they
// expire, so a client's every request does not parse and verify the same JWT again (the
// JSON decoding of the claims is most of the cost of an authenticated request). The key is
// the whole token, signature included: a token that differs by one byte is verified anew.
type verified struct {
	mu      sync.RWMutex
	entries map[string]*Claims
	max     int
}

func newVerified(max int) *verified {
	return &verified{entries: make(map[string]*Claims, max), max: max}
}

func (v *verified) get(raw string, now time.Time) (*Claims, bool) {
	v.mu.RLock()
	c, ok := v.entries[raw]
	v.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Time) {
		v.mu.Lock()
		delete(v.entries, raw)
		v.mu.Unlock()
		return nil, false
	}
	return c, true
}

func (v *verified) put(raw string, c *Claims, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.max {
		// Full: drop the expired ones, and if that frees nothing, about half at random
		// (map order); the cache only saves work, it decides nothing.
		for k, e := range v.entries {
			if e.ExpiresAt == nil || !now.Before(e.ExpiresAt.Time) {
				delete(v.entries, k)
			}
		}
		for k := range v.entries {
			if len(v.entries) < v.max/2 {
				break
			}
			delete(v.entries, k)
		}
	}
	v.entries[raw] = c
}
