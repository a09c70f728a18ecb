package accounts_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

func registerFrom(t *testing.T, env *apitest.Env, email, addr string) api.Session {
	t.Helper()
	req := env.Request(http.MethodPost, "/api/v1/auth/register", map[string]any{"email": email, "password": password})
	req.Header.Set("X-Forwarded-For", addr)
	r := env.Do(req)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, r.StatusCode, r.Body)
	}
	var s api.Session
	r.JSON(t, &s)
	return s
}

// The back-off spares the network the account last signed in from, and registering counts
// as signing in: an owner who has only ever registered is not locked out at home by a
// stranger's ten wrong passwords.
func TestOwnerWhoOnlyRegisteredIsNotLockedOutAtHome(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(proxied, func(c *config.Config) { c.RateLimitAuthRequests = 1000 }))
	const home, attacker = "198.51.100.7", "203.0.113.9"
	registerFrom(t, env, "ada@example.com", home)
	for range 10 {
		loginFrom(env, "ada@example.com", "wrong password", attacker)
	}
	if r := loginFrom(env, "ada@example.com", password, home); r.StatusCode != http.StatusOK {
		t.Errorf("the owner's correct login from the address she registered from, after a stranger's 10 failures: %d %s",
			r.StatusCode, r.Body)
	}
}

// An attempt is counted before its password is checked: guesses sent at once cannot all
// pass the back-off before the first failure is counted, so the per-account bound holds for
// bursts too.
func TestLoginBackoffHoldsForConcurrentGuesses(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(proxied, func(c *config.Config) {
		c.RateLimitAuthRequests = 1000
		c.PasswordHashQueue = 100
	}))
	env.Register("ada@example.com", password)
	const n = 30
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = loginFrom(env, "ada@example.com", fmt.Sprint("guess", i), fmt.Sprintf("203.0.113.%d", i+1)).StatusCode
		})
	}
	wg.Wait()
	checked := 0
	for _, c := range codes {
		if c == http.StatusUnauthorized {
			checked++
		}
	}
	// Five free failures, then each attempt waits: at most 5 (+1 in flight) are checked.
	if checked > 6 {
		t.Errorf("%d of %d concurrent guesses at one account had their password checked, want at most 6 (codes %v)", checked, n, codes)
	}
}

// An API key made with a stolen session and password stops working when the owner changes
// the password.
func TestAPIKeysDoNotSurviveAPasswordChange(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s := env.Register("ada@example.com", password)
	key := newKey(t, env, s.AccessToken) // the thief's
	if r := env.As(s.AccessToken, http.MethodPut, "/api/v1/users/me/password",
		map[string]any{"current_password": password, "new_password": "a brand new password"}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("change password: %d %s", r.StatusCode, r.Body)
	}
	if r := env.As(key.Key, http.MethodGet, "/api/v1/conversations", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("an API key made before the password change still works: %d", r.StatusCode)
	}
}

// Ending every other session takes the account's lock that refreshes take too: a thief
// refreshing a stolen token in a loop has no live session after the owner changes the
// password, whatever the interleaving.
func TestStolenSessionEndsWithAPasswordChangeRacingARefresh(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.RateLimitEnabled = false }))
	pw := password
	for round := range 20 {
		email := fmt.Sprintf("u%d@example.com", round)
		owner := env.Register(email, pw)
		thief := loginFrom(env, email, pw, "127.0.0.1")
		var stolen api.Session
		thief.JSON(t, &stolen)
		stop := make(chan struct{})
		done := make(chan string)
		go func() {
			tok := stolen.RefreshToken
			for {
				select {
				case <-stop:
					done <- tok
					return
				default:
				}
				r := refresh(env, tok)
				if r.StatusCode != http.StatusOK {
					done <- ""
					return
				}
				var s api.Session
				if json.Unmarshal(r.Body, &s) != nil {
					done <- ""
					return
				}
				tok = s.RefreshToken
			}
		}()
		r := env.As(owner.AccessToken, http.MethodPut, "/api/v1/users/me/password",
			map[string]any{"current_password": pw, "new_password": "a brand new password"})
		close(stop)
		last := <-done
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("round %d: change password: %d %s", round, r.StatusCode, r.Body)
		}
		var alive int
		if err := env.Pool.QueryRow(t.Context(), `SELECT count(*) FROM refresh_tokens
			WHERE user_id = $1 AND revoked_at IS NULL AND rotated_at IS NULL AND family_id <> (
			  SELECT family_id FROM refresh_tokens WHERE user_id = $1 ORDER BY id LIMIT 1)`, owner.User.Id).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if alive > 0 {
			still := last != "" && refresh(env, last).StatusCode == http.StatusOK
			t.Fatalf("round %d: the thief's session outlived the password change (%d live tokens; its refresh still works: %v)", round, alive, still)
		}
	}
}

// The same race against the recovery path: an admin's reset link, used while the thief's
// loop refreshes, ends the thief's session.
func TestStolenSessionEndsWithAPasswordResetRacingARefresh(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.RateLimitEnabled = false }))
	admin := env.Register("admin@example.com", password)
	for round := range 20 {
		email := fmt.Sprintf("u%d@example.com", round)
		victim := env.Register(email, password)
		var stolen api.Session
		loginFrom(env, email, password, "127.0.0.1").JSON(t, &stolen)
		rr := env.As(admin.AccessToken, http.MethodPost, "/api/v1/admin/users/"+victim.User.Id.String()+"/password-reset", nil)
		var reset api.PasswordReset
		rr.JSON(t, &reset)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tok := stolen.RefreshToken
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := refresh(env, tok)
				var s api.Session
				if r.StatusCode != http.StatusOK || json.Unmarshal(r.Body, &s) != nil {
					return
				}
				tok = s.RefreshToken
			}
		}()
		r := env.Call(http.MethodPost, "/api/v1/auth/password-reset", map[string]any{"token": reset.Token, "new_password": "a brand new password"})
		close(stop)
		<-done
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("round %d: reset: %d %s", round, r.StatusCode, r.Body)
		}
		var alive int
		if err := env.Pool.QueryRow(t.Context(), `SELECT count(*) FROM refresh_tokens
			WHERE user_id = $1 AND revoked_at IS NULL`, victim.User.Id).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if alive > 0 {
			t.Fatalf("round %d: %d refresh tokens of the account are live after a password reset", round, alive)
		}
	}
}
