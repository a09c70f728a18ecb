package auth_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"assistant/server/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": auth.Issuer, "aud": auth.Audience, "sub": uuid.NewString(), "typ": "access",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(), "sid": uuid.NewString(),
	}
}

func without(c jwt.MapClaims, k string) jwt.MapClaims { delete(c, k); return c }
func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}

func TestAccessTokenVerification(t *testing.T) {
	t.Parallel()
	tokens := auth.NewTokens(secret, 15*time.Minute)

	good, err := tokens.Issue(uuid.New(), "user", uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(good); err != nil {
		t.Fatalf("own token rejected: %v", err)
	}
	if _, err := tokens.Verify(sign(t, jwt.SigningMethodHS256, secret, validClaims())); err != nil {
		t.Fatalf("valid hand-made token rejected: %v", err)
	}

	// alg "none": header and claims, empty signature.
	enc := base64.RawURLEncoding.EncodeToString
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + strings.Split(good, ".")[1] + "."

	bad := map[string]string{
		"alg none":             none,
		"HS512 with the key":   sign(t, jwt.SigningMethodHS512, secret, validClaims()),
		"another key":          sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), validClaims()),
		"expired":              sign(t, jwt.SigningMethodHS256, secret, with(validClaims(), "exp", time.Now().Add(-time.Minute).Unix())),
		"no exp":               sign(t, jwt.SigningMethodHS256, secret, without(validClaims(), "exp")),
		"not yet valid":        sign(t, jwt.SigningMethodHS256, secret, with(validClaims(), "nbf", time.Now().Add(time.Hour).Unix())),
		"wrong audience":       sign(t, jwt.SigningMethodHS256, secret, with(validClaims(), "aud", "someone-else")),
		"wrong issuer":         sign(t, jwt.SigningMethodHS256, secret, with(validClaims(), "iss", "evil")),
		"not an access token":  sign(t, jwt.SigningMethodHS256, secret, with(validClaims(), "typ", "refresh")),
		"subject not a uuid":   sign(t, jwt.SigningMethodHS256, secret, with(validClaims(), "sub", "admin")),
		"tampered payload":     strings.Split(good, ".")[0] + "." + enc([]byte(`{"sub":"x"}`)) + "." + strings.Split(good, ".")[2],
		"garbage":              "not.a.jwt",
		"refresh token format": "rt_abc",
	}
	for name, tok := range bad {
		if _, err := tokens.Verify(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSecretsAreStoredHashed(t *testing.T) {
	t.Parallel()
	s1, h1 := auth.NewSecret(auth.APIKeyPrefix)
	s2, _ := auth.NewSecret(auth.APIKeyPrefix)
	if s1 == s2 || !strings.HasPrefix(s1, "ak_") || len(s1) < 40 {
		t.Fatalf("secrets %q %q", s1, s2)
	}
	if string(auth.HashSecret(s1)) != string(h1) || strings.Contains(string(h1), s1) {
		t.Fatal("hash does not match its secret")
	}
}
