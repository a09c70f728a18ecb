package accounts_test

import (
	"net/http"
	"testing"

	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

// BenchmarkLogin measures a failed login through the whole API at the production argon2id
// parameters: an unknown email must cost the same as a wrong password (no user
// enumeration by timing). Compare the two sub-benchmarks' ns/op from one run.
func BenchmarkLogin(b *testing.B) {
	env := apitest.New(b, apitest.WithConfig(func(c *config.Config) {
		c.Argon2MemoryKiB = 19456
		c.Argon2Time = 2
		c.RateLimitEnabled = false
		c.LogLevel = 12 // nothing below error
	}))
	env.Register("ada@example.com", "correct horse battery")
	cases := []struct {
		name, email, password string
		status                int
	}{
		{"wrong_password", "ada@example.com", "wrong password", http.StatusUnauthorized},
		{"unknown_email", "nobody@example.com", "wrong password", http.StatusUnauthorized},
		{"success", "ada@example.com", "correct horse battery", http.StatusOK},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			body := map[string]any{"email": c.email, "password": c.password}
			for b.Loop() {
				if r := env.Call(http.MethodPost, "/api/v1/auth/login", body); r.StatusCode != c.status {
					b.Fatalf("status %d", r.StatusCode)
				}
			}
		})
	}
}
