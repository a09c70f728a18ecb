package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/pgtest"
	"assistant/server/testutil/testenv"
)

const limit = 5

func memory(c *config.Config) {
	c.RateLimitEnabled = true
	c.RateLimitBackend = "memory"
	c.RateLimitAuthRequests = limit
	c.RateLimitAuthWindow = time.Hour
}

// withRedis uses the test Redis with a key prefix of its own, so parallel tests do not
// share counters. Pass the same prefix to instances that must share a limit.
func withRedis(t *testing.T, prefix string) apitest.Option {
	u := testenv.URL(t, testenv.Redis)
	return apitest.WithConfig(func(c *config.Config) {
		memory(c)
		c.RateLimitBackend = "redis"
		c.RedisURL = u
		c.RedisKeyPrefix = prefix
	})
}

func randomPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test-" + hex.EncodeToString(b) + ":"
}

func login(env *apitest.Env, email string, xff string) *apitest.Response {
	req := env.Request(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": email, "password": "wrong password"})
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return env.Do(req)
}

// parallelLogins fires m login attempts at once (distinct emails, so only the per-address
// limit applies) and counts those that were not rate limited.
func parallelLogins(t *testing.T, env *apitest.Env, m int) int {
	var passed atomic.Int32
	var wg sync.WaitGroup
	for i := range m {
		wg.Go(func() {
			r := login(env, fmt.Sprintf("user%d@example.com", i), "")
			switch r.StatusCode {
			case http.StatusTooManyRequests:
			case http.StatusUnauthorized:
				passed.Add(1)
			default:
				t.Errorf("status %d: %s", r.StatusCode, r.Body)
			}
		})
	}
	wg.Wait()
	return int(passed.Load())
}

func TestExactlyNPassUnderConcurrency(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]apitest.Option{"memory": apitest.WithConfig(memory), "redis": withRedis(t, randomPrefix())} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, opt)
			if got := parallelLogins(t, env, 40); got != limit {
				t.Fatalf("%d of 40 parallel attempts passed, want exactly %d", got, limit)
			}
		})
	}
}

func TestRateLimitedAnswer(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(memory))
	var r *apitest.Response
	for i := 0; i <= limit; i++ {
		r = env.Call(http.MethodPost, "/api/v1/auth/register", map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "password": "correct horse battery"})
	}
	if r.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeRateLimited {
		t.Fatalf("request %d: %d %s", limit+1, r.StatusCode, r.Body)
	}
	for _, h := range []string{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if r.Header.Get(h) == "" {
			t.Errorf("429 without %s", h)
		}
	}
	if r.Header.Get("X-RateLimit-Limit") != fmt.Sprint(limit) || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("limit headers: %v", r.Header)
	}
	// Malformed requests count too: the limit runs before validation.
	env2 := apitest.New(t, apitest.WithConfig(memory))
	for i := 0; i < limit; i++ {
		env2.Call(http.MethodPost, "/api/v1/auth/refresh", `{"broken`)
	}
	if r := env2.Call(http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refresh_token": "rt_x"}); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after %d malformed refreshes: %d", limit, r.StatusCode)
	}
}

func TestTwoInstancesShareOneLimitThroughRedis(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	pool, url := pgtest.New(t)
	a := apitest.New(t, apitest.WithPool(pool, url), withRedis(t, prefix))
	b := apitest.New(t, apitest.WithPool(pool, url), withRedis(t, prefix))
	passed := 0
	for i := 0; i < 2*limit; i++ {
		env := a
		if i%2 == 1 {
			env = b
		}
		if r := login(env, fmt.Sprintf("user%d@example.com", i), ""); r.StatusCode != http.StatusTooManyRequests {
			passed++
		}
	}
	if passed != limit {
		t.Fatalf("%d attempts passed across two instances, want %d", passed, limit)
	}
}

func TestForwardedForIsTrustedOnlyFromProxies(t *testing.T) {
	t.Parallel()
	// Untrusted peer: a forged X-Forwarded-For does not give a fresh key per request.
	direct := apitest.New(t, apitest.WithConfig(memory))
	passed := 0
	for i := 0; i < 2*limit; i++ {
		if r := login(direct, fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("198.51.100.%d", i)); r.StatusCode != http.StatusTooManyRequests {
			passed++
		}
	}
	if passed != limit {
		t.Errorf("forged X-Forwarded-For from an untrusted peer: %d passed, want %d", passed, limit)
	}

	// Behind a trusted proxy: the rightmost untrusted address is the client.
	proxied := apitest.New(t, apitest.WithConfig(memory, func(c *config.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}))
	for i := 0; i < 2*limit; i++ {
		if r := login(proxied, fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("203.0.113.%d", i)); r.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("distinct clients behind the proxy share a limit (request %d)", i)
		}
	}
	passed = 0
	for i := 0; i < 2*limit; i++ {
		// The client forges the left part; the proxy appended the right one.
		xff := fmt.Sprintf("10.%d.0.1, 192.0.2.77", i)
		if r := login(proxied, fmt.Sprintf("v%d@example.com", i), xff); r.StatusCode != http.StatusTooManyRequests {
			passed++
		}
	}
	if passed != limit {
		t.Errorf("forged left part of X-Forwarded-For: %d passed, want %d", passed, limit)
	}
	if !strings.Contains(proxied.Logs.String(), `"client_ip":"192.0.2.77"`) {
		t.Error("the access log does not name the real client")
	}
}

// Attempts on one account spread over many addresses still meet the account's login
// back-off: after five free failures, strangers wait (the owner's own network does not:
// see the accounts tests).
func TestLoginIsLimitedPerEmail(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.RateLimitEnabled = true
		c.RateLimitAuthRequests = 1000
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}))
	const free = 5
	passed := 0
	for i := 0; i < 2*free; i++ {
		// A different address every time, one account.
		if r := login(env, "victim@example.com", fmt.Sprintf("203.0.113.%d", i)); r.StatusCode != http.StatusTooManyRequests {
			passed++
		} else if r.Header.Get("Retry-After") == "" {
			t.Error("back-off 429 without Retry-After")
		}
	}
	if passed != free {
		t.Fatalf("%d attempts on one email passed, want %d", passed, free)
	}
}

// With Redis unreachable the limiter keeps limiting in memory (fail open to the local
// fallback by default), never turns a request into a 500, and health reports Redis down.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String() + "/0"
	ln.Close()
	down := func(c *config.Config) {
		memory(c)
		c.RateLimitBackend = "redis"
		c.RedisURL = dead
	}

	open := apitest.New(t, apitest.WithConfig(down))
	passed := 0
	for i := 0; i < 2*limit; i++ {
		r := login(open, fmt.Sprintf("u%d@example.com", i), "")
		if r.StatusCode == http.StatusUnauthorized {
			passed++
		} else if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d with Redis down: %s", r.StatusCode, r.Body)
		}
	}
	if passed != limit {
		t.Errorf("with Redis down %d passed, want %d (in-memory fallback)", passed, limit)
	}
	h := open.Call(http.MethodGet, "/api/v1/health", nil)
	var health api.Health
	h.JSON(t, &health)
	if h.StatusCode != http.StatusServiceUnavailable || health.Checks.Redis == nil || health.Checks.Redis.Status != api.HealthCheckStatusError {
		t.Errorf("health with Redis down: %d %s", h.StatusCode, h.Body)
	}

	closed := apitest.New(t, apitest.WithConfig(down, func(c *config.Config) { c.RateLimitFailOpen = false }))
	r := login(closed, "a@example.com", "")
	if r.StatusCode != http.StatusServiceUnavailable || r.Envelope(t).Code != api.ErrorBodyCodeServiceUnavailable {
		t.Errorf("fail-closed with Redis down: %d %s", r.StatusCode, r.Body)
	}
}

func TestRedisHealthy(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, withRedis(t, randomPrefix()))
	h := env.Call(http.MethodGet, "/api/v1/health", nil)
	var health api.Health
	h.JSON(t, &health)
	if h.StatusCode != http.StatusOK || health.Checks.Redis == nil || health.Checks.Redis.Status != api.HealthCheckStatusOk {
		t.Errorf("health: %d %s", h.StatusCode, h.Body)
	}
}

// A Redis that accepts connections but never answers (hung, not down) does not hang the
// limited operations: they fall back to memory after the short Redis timeouts.
func TestRedisHung(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }() // read, never reply
		}
	}()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		memory(c)
		c.RateLimitBackend = "redis"
		c.RedisURL = "redis://" + ln.Addr().String() + "/0"
	}))
	passed := 0
	for i := 0; i < 2*limit; i++ {
		req := env.Request(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "password": "wrong password"})
		ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
		r := env.Do(req.WithContext(ctx))
		cancel()
		switch r.StatusCode {
		case http.StatusUnauthorized:
			passed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d with Redis hung: %s", r.StatusCode, r.Body)
		}
	}
	if passed != limit {
		t.Errorf("with Redis hung %d passed, want %d (in-memory fallback)", passed, limit)
	}
}
