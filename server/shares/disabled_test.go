package shares_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/server/testutil/apitest"
)

// A share link is a bearer credential to the account's text: disabling an account (what an
// admin does to one that publishes abuse) stops its links as it stops its sessions and keys.
func TestDisabledAccountsSharesStop(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	admin := env.Register("admin@example.com", "correct horse battery staple")
	f := newFixture(t, env, "ada@example.com", "to be disabled")
	id := f.message(t, uuid.Nil, "user", "complete", "abusive text", time.Now())
	f.setCurrent(t, &id)
	s := f.share(t, map[string]any{})
	if r := read(env, s.UrlToken); r.StatusCode != http.StatusOK {
		t.Fatalf("read before: %d %s", r.StatusCode, r.Body)
	}
	var ada struct {
		User struct{ Id string } `json:"user"`
	}
	r := env.As(f.token, http.MethodGet, "/api/v1/users/me", nil)
	r.JSON(t, &ada.User)
	r = env.As(admin.AccessToken, http.MethodPatch, "/api/v1/admin/users/"+ada.User.Id, map[string]any{"disabled": true})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d %s", r.StatusCode, r.Body)
	}
	notFound(t, read(env, s.UrlToken), "a disabled account's share")
}
