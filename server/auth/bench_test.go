package auth_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/server/auth"
)

// BenchmarkVerify is the JWT check of every authenticated request.
func BenchmarkVerify(b *testing.B) {
	tokens := auth.NewTokens(secret, 15*time.Minute)
	tok, err := tokens.Issue(uuid.New(), "user", uuid.New())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
