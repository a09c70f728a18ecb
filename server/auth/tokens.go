package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// The access token's fixed claims.
const (
	Issuer    = "assistant"
	Audience  = "assistant-api"
	tokenType = "access"
)

// Prefixes tell the kinds of opaque secrets apart (and make leaked ones easy to grep for).
const (
	RefreshTokenPrefix = "rt_"
	APIKeyPrefix       = "ak_"
)

// ErrInvalidToken covers every way a bearer token can be wrong.
var ErrInvalidToken = errors.New("invalid token")

// Claims are the access token's claims. SessionID is the refresh-token family that the
// token was issued with, so "end every other session" can spare the caller's own.
type Claims struct {
	jwt.RegisteredClaims
	Type      string `json:"typ"`
	Role      string `json:"role"`
	SessionID string `json:"sid"`
}

// Tokens signs and verifies access tokens (HS256).
type Tokens struct {
	secret []byte
	ttl    time.Duration
	parser *jwt.Parser
	now    func() time.Time
	cache  *verified
}

// NewTokens returns a signer/verifier. Verification allows only HS256, requires exp, and
// checks issuer and audience, so none of alg "none", another algorithm, a token without
// expiry or a token for another service is accepted.
func NewTokens(secret []byte, ttl time.Duration) *Tokens {
	return &Tokens{
		secret: secret,
		ttl:    ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(Audience),
			jwt.WithLeeway(5*time.Second),
		),
		now:   time.Now,
		cache: newVerified(10000),
	}
}

// TTL is the access token lifetime.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue signs an access token for the user in the session.
func (t *Tokens) Issue(userID uuid.UUID, role string, sessionID uuid.UUID) (string, error) {
	now := t.now()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        uuid.NewString(),
		},
		Type:      tokenType,
		Role:      role,
		SessionID: sessionID.String(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

// Verify checks an access token and returns its claims, or ErrInvalidToken. The claims
// must not be modified: they may be shared with other requests carrying the same token.
func (t *Tokens) Verify(raw string) (*Claims, error) {
	now := t.now()
	if c, ok := t.cache.get(raw, now); ok {
		return c, nil
	}
	var c Claims
	tok, err := t.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.secret, nil })
	if err != nil || !tok.Valid || c.Type != tokenType {
		return nil, ErrInvalidToken
	}
	if _, err := uuid.Parse(c.Subject); err != nil {
		return nil, ErrInvalidToken
	}
	t.cache.put(raw, &c, now)
	return &c, nil
}

// NewSecret returns a random 256-bit secret with the prefix, and its SHA-256 for storage.
// Only the hash is stored: a database leak does not leak usable tokens, and a fast hash is
// enough because the secret itself has 256 bits of entropy.
func NewSecret(prefix string) (secret string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret)
}

// HashSecret is the stored form of an opaque secret.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
