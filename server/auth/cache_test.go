package auth

import (
	"encoding/base64"
	"strings"
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
	// One byte off in the signature: verified anew, and refused. The byte is flipped in
	// the decoded signature: changing the last base64 character alone may leave every
	// byte as it was (its low bits are padding).
	if _, err := tok.Verify(tamper(t, raw)); err == nil {
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

// tamper returns raw with one bit of its signature's first byte flipped.
func tamper(t *testing.T, raw string) string {
	t.Helper()
	i := strings.LastIndexByte(raw, '.')
	sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
	if err != nil || len(sig) == 0 {
		t.Fatalf("signature of %q: %v", raw, err)
	}
	sig[0] ^= 1
	return raw[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}
