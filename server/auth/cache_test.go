package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func TestVerifiedTokensExpireFromTheCache(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok := NewTokens(secret, time.Minute)
	clock := time.Now()
	tok.now = func() time.Time { return clock }
	raw, err := tok.Issue(uuid.New(), "user", uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Verify(raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.cache.get(raw, clock); !ok {
		t.Fatal("a verified token was not remembered")
	}
	// One byte off in the signature: verified anew, and refused.
	if _, err := tok.Verify(raw[:len(raw)-1] + "A"); err == nil && raw[len(raw)-1] != 'A' {
		t.Error("a tampered token was accepted")
	}
	// Past its expiry the cache does not vouch for it.
	clock = clock.Add(2 * time.Minute)
	if _, ok := tok.cache.get(raw, clock); ok {
		t.Error("the cache vouched for an expired token")
	}
	// The cache stays bounded.
	small := newVerified(4)
	for i := 0; i < 100; i++ {
		small.put(uuid.NewString(), &Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}, time.Now())
	}
	if len(small.entries) > 4 {
		t.Errorf("cache grew to %d", len(small.entries))
	}
}
