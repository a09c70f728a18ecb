package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/pgtest"
)

const pw = "correct horse battery"

var noLimit = apitest.WithConfig(func(c *config.Config) { c.RateLimitEnabled = false })

func mode(m string) apitest.Option {
	return apitest.WithConfig(func(c *config.Config) { c.RegistrationMode = m })
}

// setup is an open-mode API whose first account (the admin) is signed in.
func setup(t *testing.T, opts ...apitest.Option) (*apitest.Env, api.Session) {
	t.Helper()
	env := apitest.New(t, append([]apitest.Option{noLimit}, opts...)...)
	admin := env.Register("admin@example.com", pw)
	if admin.User.Role != api.UserRoleAdmin {
		t.Fatalf("the first account is %q, want admin", admin.User.Role)
	}
	return env, admin
}

func login(env *apitest.Env, email, password string) *apitest.Response {
	return env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": email, "password": password})
}

func mustLogin(t *testing.T, env *apitest.Env, email, password string) api.Session {
	t.Helper()
	r := login(env, email, password)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, r.StatusCode, r.Body)
	}
	var s api.Session
	r.JSON(t, &s)
	return s
}

func refresh(env *apitest.Env, token string) *apitest.Response {
	return env.Call(http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refresh_token": token})
}

func register(env *apitest.Env, email, invite string) *apitest.Response {
	body := map[string]any{"email": email, "password": pw}
	if invite != "" {
		body["invite_token"] = invite
	}
	return env.Call(http.MethodPost, "/api/v1/auth/register", body)
}

func wantError(t *testing.T, r *apitest.Response, status int, code api.ErrorBodyCode, what string) api.ErrorBody {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", what, r.StatusCode, r.Body, status)
	}
	e := r.Envelope(t)
	if e.Code != code {
		t.Errorf("%s: code %q, want %q", what, e.Code, code)
	}
	return e
}

func createInvite(t *testing.T, env *apitest.Env, admin string, body map[string]any) api.InviteCreated {
	t.Helper()
	r := env.As(admin, http.MethodPost, "/api/v1/admin/invites", body)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create invite: %d %s", r.StatusCode, r.Body)
	}
	var inv api.InviteCreated
	r.JSON(t, &inv)
	return inv
}

func listInvites(t *testing.T, env *apitest.Env, admin string) []uuid.UUID {
	t.Helper()
	r := env.As(admin, http.MethodGet, "/api/v1/admin/invites?limit=100", nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("list invites: %d %s", r.StatusCode, r.Body)
	}
	var l api.InviteList
	r.JSON(t, &l)
	ids := make([]uuid.UUID, len(l.Items))
	for i, it := range l.Items {
		ids[i] = it.Id
	}
	return ids
}

func updateUser(env *apitest.Env, admin string, id uuid.UUID, body map[string]any) *apitest.Response {
	return env.As(admin, http.MethodPatch, "/api/v1/admin/users/"+id.String(), body)
}

// noSecretsLogged fails when any of the secrets appears in the server's log.
func noSecretsLogged(t *testing.T, env *apitest.Env, secrets ...string) {
	t.Helper()
	logs := env.Logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret was logged: %.12s…", s)
		}
	}
}

func hasEvent(t *testing.T, env *apitest.Env, event string) bool {
	t.Helper()
	for _, l := range env.Logs.Lines(t) {
		if l["event"] == event {
			return true
		}
	}
	return false
}

// Invitations end to end: made with and without an email, listed while open, used once to
// register in invite mode; every refused use (none, unknown, used, revoked, expired, for
// another email) is the same 403; closed mode refuses even a valid invitation; open mode
// ignores one.
func TestInvitations(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.New(t)
	open := apitest.New(t, apitest.WithPool(pool, dbURL), noLimit)
	admin := open.Register("admin@example.com", pw).AccessToken
	env := apitest.New(t, apitest.WithPool(pool, dbURL), noLimit, mode("invite"))
	closed := apitest.New(t, apitest.WithPool(pool, dbURL), noLimit, mode("closed"))

	before := time.Now()
	anyone := createInvite(t, env, admin, map[string]any{})
	if !strings.HasPrefix(anyone.Token, "inv_") || anyone.Email != nil {
		t.Errorf("invite = %+v", anyone)
	}
	if ttl := env.Config.InviteTTL; anyone.ExpiresAt.Before(before.Add(ttl-time.Hour)) || anyone.ExpiresAt.After(time.Now().Add(ttl+time.Hour)) {
		t.Errorf("expires_at %s is not INVITE_TTL (%s) from now", anyone.ExpiresAt, ttl)
	}
	grace := createInvite(t, env, admin, map[string]any{"email": "Grace@Example.COM", "expires_in": 3600})
	if grace.Email == nil || *grace.Email != "grace@example.com" {
		t.Errorf("invite email = %v, want grace@example.com", grace.Email)
	}
	if grace.ExpiresAt.After(time.Now().Add(2 * time.Hour)) {
		t.Errorf("expires_in ignored: %s", grace.ExpiresAt)
	}
	if diff := cmp.Diff([]uuid.UUID{grace.Id, anyone.Id}, listInvites(t, env, admin)); diff != "" {
		t.Errorf("open invites, want grace's then anyone's (-want +got):\n%s", diff)
	}

	// Refusals: all the same 403, the invitation untouched.
	none := wantError(t, register(env, "eve@example.com", ""), http.StatusForbidden, api.ErrorBodyCodeForbidden, "no invitation")
	if !strings.Contains(none.Message, "invit") {
		t.Errorf("no invitation: message %q does not say an invitation is needed", none.Message)
	}
	unknown := wantError(t, register(env, "eve@example.com", "inv_not-a-real-token"), http.StatusForbidden, api.ErrorBodyCodeForbidden, "unknown token")
	other := wantError(t, register(env, "eve@example.com", grace.Token), http.StatusForbidden, api.ErrorBodyCodeForbidden, "another email's invitation")
	if unknown.Message != other.Message {
		t.Errorf("an unknown token and another email's invitation are told apart: %q, %q", unknown.Message, other.Message)
	}
	wantError(t, register(closed, "eve@example.com", anyone.Token), http.StatusForbidden, api.ErrorBodyCodeForbidden, "closed mode")

	// An email taken already is a 409 that leaves the invitation usable.
	wantError(t, register(env, "admin@example.com", anyone.Token), http.StatusConflict, api.ErrorBodyCodeConflict, "taken email")

	r := register(env, "bob@example.com", anyone.Token)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("register with an invitation: %d %s", r.StatusCode, r.Body)
	}
	var bob api.Session
	r.JSON(t, &bob)
	if bob.User.Role != api.UserRoleUser {
		t.Errorf("an invited account is %q, want user", bob.User.Role)
	}
	used := wantError(t, register(env, "carol@example.com", anyone.Token), http.StatusForbidden, api.ErrorBodyCodeForbidden, "used invitation")
	if used.Message != unknown.Message {
		t.Errorf("a used and an unknown token are told apart: %q, %q", used.Message, unknown.Message)
	}
	// The email's invitation works for that email, whatever its case.
	if r := register(env, "GRACE@example.com", grace.Token); r.StatusCode != http.StatusCreated {
		t.Errorf("grace with her invitation: %d %s", r.StatusCode, r.Body)
	}
	if got := listInvites(t, env, admin); len(got) != 0 {
		t.Errorf("used invitations are still listed: %v", got)
	}
	var usedBy uuid.UUID
	if err := pool.QueryRow(context.Background(), "SELECT used_by FROM invites WHERE id = $1", anyone.Id).Scan(&usedBy); err != nil || usedBy != bob.User.Id {
		t.Errorf("used_by = %s, %v; want bob %s", usedBy, err, bob.User.Id)
	}

	// Revoked: gone from the list, refused, and a second revoke is 404.
	revoked := createInvite(t, env, admin, map[string]any{})
	if r := env.As(admin, http.MethodDelete, "/api/v1/admin/invites/"+revoked.Id.String(), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
	wantError(t, register(env, "dave@example.com", revoked.Token), http.StatusForbidden, api.ErrorBodyCodeForbidden, "revoked invitation")
	wantError(t, env.As(admin, http.MethodDelete, "/api/v1/admin/invites/"+revoked.Id.String(), nil), http.StatusNotFound, api.ErrorBodyCodeNotFound, "revoke twice")
	wantError(t, env.As(admin, http.MethodDelete, "/api/v1/admin/invites/"+uuid.New().String(), nil), http.StatusNotFound, api.ErrorBodyCodeNotFound, "revoke unknown")
	wantError(t, env.As(admin, http.MethodDelete, "/api/v1/admin/invites/"+anyone.Id.String(), nil), http.StatusNotFound, api.ErrorBodyCodeNotFound, "revoke a used invitation")

	// Expired: hidden and refused.
	expired := createInvite(t, env, admin, map[string]any{})
	if _, err := pool.Exec(context.Background(), "UPDATE invites SET expires_at = now() - interval '1 second' WHERE id = $1", expired.Id); err != nil {
		t.Fatal(err)
	}
	if got := listInvites(t, env, admin); len(got) != 0 {
		t.Errorf("an expired invitation is listed: %v", got)
	}
	wantError(t, register(env, "erin@example.com", expired.Token), http.StatusForbidden, api.ErrorBodyCodeForbidden, "expired invitation")

	// Open mode ignores invite_token, even a bogus one.
	if r := register(open, "frank@example.com", "inv_whatever"); r.StatusCode != http.StatusCreated {
		t.Errorf("open mode with a bogus invite_token: %d %s", r.StatusCode, r.Body)
	}
	// Closed mode refuses a plain registration too.
	wantError(t, register(closed, "gina@example.com", ""), http.StatusForbidden, api.ErrorBodyCodeForbidden, "closed mode, no token")

	// Invalid requests.
	for _, body := range []map[string]any{{"expires_in": 59}, {"expires_in": 7776001}, {"email": "not an email"}, {"token": "x"}} {
		r := env.As(admin, http.MethodPost, "/api/v1/admin/invites", body)
		wantError(t, r, http.StatusUnprocessableEntity, api.ErrorBodyCodeValidationError, fmt.Sprint("invite ", body))
	}
	if !hasEvent(t, env, "admin_invite_created") || !hasEvent(t, env, "admin_invite_deleted") || !hasEvent(t, env, "registered") {
		t.Error("invitations and registrations are not logged as security events")
	}
	noSecretsLogged(t, env, anyone.Token, grace.Token, revoked.Token, expired.Token)
}

// Invitations page newest first, and a cursor from elsewhere is a 422.
func TestInvitationsPaginate(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	var want []uuid.UUID
	for range 5 {
		want = append([]uuid.UUID{createInvite(t, env, admin.AccessToken, map[string]any{}).Id}, want...)
	}
	var got []uuid.UUID
	path := "/api/v1/admin/invites?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := env.As(admin.AccessToken, http.MethodGet, path, nil)
		var l api.InviteList
		r.JSON(t, &l)
		for _, it := range l.Items {
			got = append(got, it.Id)
		}
		path = ""
		if l.NextCursor != nil {
			path = "/api/v1/admin/invites?limit=2&cursor=" + url.QueryEscape(*l.NextCursor)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	wantError(t, env.As(admin.AccessToken, http.MethodGet, "/api/v1/admin/invites?cursor=bogus", nil),
		http.StatusUnprocessableEntity, api.ErrorBodyCodeValidationError, "bad cursor")
}

// One invitation makes one account, however many use it at once.
func TestInvitationUsedOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.New(t)
	open := apitest.New(t, apitest.WithPool(pool, dbURL), noLimit)
	admin := open.Register("admin@example.com", pw).AccessToken
	env := apitest.New(t, apitest.WithPool(pool, dbURL), noLimit, mode("invite"), apitest.WithConfig(func(c *config.Config) { c.PasswordHashQueue = 100 }))
	inv := createInvite(t, env, admin, map[string]any{})

	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = register(env, fmt.Sprintf("user%d@example.com", i), inv.Token).StatusCode })
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusForbidden:
		default:
			t.Errorf("registration %d: %d", i, s)
		}
	}
	if created != 1 {
		t.Errorf("%d accounts from one invitation, want 1 (statuses %v)", created, statuses)
	}
	var users int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(&users); err != nil || users != 2 {
		t.Errorf("users = %d, %v; want 2", users, err)
	}
}

// Disabling ends the account's sessions at once (refresh fails) and is undone by enabling;
// an admin cannot disable or demote themselves; an unknown account is 404.
func TestDisableAndEnable(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	second := mustLogin(t, env, "bob@example.com", pw)

	r := updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"disabled": true})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d %s", r.StatusCode, r.Body)
	}
	var u api.User
	r.JSON(t, &u)
	if !u.Disabled || u.Id != bob.User.Id || u.Role != api.UserRoleUser {
		t.Errorf("disabled user = %+v", u)
	}
	for i, s := range []api.Session{bob, second} {
		wantError(t, refresh(env, s.RefreshToken), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, fmt.Sprint("refresh of session ", i))
	}
	// Disabling again is harmless.
	if r := updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"disabled": true}); r.StatusCode != http.StatusOK {
		t.Errorf("disable twice: %d %s", r.StatusCode, r.Body)
	}

	r = updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"disabled": false})
	r.JSON(t, &u)
	if r.StatusCode != http.StatusOK || u.Disabled {
		t.Fatalf("enable: %d %s", r.StatusCode, r.Body)
	}
	again := mustLogin(t, env, "bob@example.com", pw)
	if again.User.Disabled {
		t.Error("an enabled account signs in as disabled")
	}
	// The old sessions stay ended.
	wantError(t, refresh(env, second.RefreshToken), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, "old session after enable")
	if r := refresh(env, again.RefreshToken); r.StatusCode != http.StatusOK {
		t.Errorf("new session's refresh: %d %s", r.StatusCode, r.Body)
	}

	// Self: 409 for disable and demote (the account is unchanged); no-ops are fine.
	self := admin.User.Id
	wantError(t, updateUser(env, admin.AccessToken, self, map[string]any{"disabled": true}), http.StatusConflict, api.ErrorBodyCodeConflict, "disable self")
	wantError(t, updateUser(env, admin.AccessToken, self, map[string]any{"role": "user"}), http.StatusConflict, api.ErrorBodyCodeConflict, "demote self")
	wantError(t, updateUser(env, admin.AccessToken, self, map[string]any{"role": "admin", "disabled": true}), http.StatusConflict, api.ErrorBodyCodeConflict, "disable self with a role")
	if r := updateUser(env, admin.AccessToken, self, map[string]any{"role": "admin", "disabled": false}); r.StatusCode != http.StatusOK {
		t.Errorf("self no-op: %d %s", r.StatusCode, r.Body)
	}
	if r := refresh(env, admin.RefreshToken); r.StatusCode != http.StatusOK {
		t.Errorf("the admin's session ended: %d %s", r.StatusCode, r.Body)
	}

	// Unknown account; invalid bodies.
	wantError(t, updateUser(env, admin.AccessToken, uuid.New(), map[string]any{"disabled": true}), http.StatusNotFound, api.ErrorBodyCodeNotFound, "unknown user")
	for _, body := range []map[string]any{{}, {"role": "root"}, {"disabled": "yes"}, {"email": "x@example.com"}} {
		wantError(t, updateUser(env, admin.AccessToken, bob.User.Id, body), http.StatusUnprocessableEntity, api.ErrorBodyCodeValidationError, fmt.Sprint("body ", body))
	}
	if !hasEvent(t, env, "admin_user_updated") {
		t.Error("admin changes are not logged as security events")
	}
}

// A disabled account cannot sign in; enabled, it can.
func TestDisabledUserCannotSignIn(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"disabled": true})
	if r := login(env, "bob@example.com", pw); r.StatusCode == http.StatusOK {
		t.Errorf("a disabled account signed in: %s", r.Body)
	}
	updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"disabled": false})
	mustLogin(t, env, "bob@example.com", pw)
}

// A disabled account's access token and API keys stop working within a second, reads
// included.
func TestDisabledAccountTokensStop(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	kr := env.As(bob.AccessToken, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "laptop", "current_password": pw})
	if kr.StatusCode != http.StatusCreated {
		t.Fatalf("create key: %d %s", kr.StatusCode, kr.Body)
	}
	var key api.ApiKeyCreated
	kr.JSON(t, &key)
	if r := env.As(bob.AccessToken, http.MethodGet, "/api/v1/conversations", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("before: %d %s", r.StatusCode, r.Body)
	}
	updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"disabled": true})
	for _, cred := range []string{bob.AccessToken, key.Key} {
		deadline := time.Now().Add(10 * time.Second) // a bound against never, not a timing assertion
		for {
			r := env.As(cred, http.MethodGet, "/api/v1/conversations", nil)
			if r.StatusCode == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("a disabled account's credential still answers %d", r.StatusCode)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Enabling the account again does not bring back its keys (a thief's among them).
	if r := updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"disabled": false}); r.StatusCode != http.StatusOK {
		t.Fatalf("enable: %d %s", r.StatusCode, r.Body)
	}
	mustLogin(t, env, "bob@example.com", pw)
	if r := env.As(key.Key, http.MethodGet, "/api/v1/conversations", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a key of a disabled account works again after enabling: %d", r.StatusCode)
	}
}

// A promoted account can use the admin operations.
func TestRoleChange(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	r := updateUser(env, admin.AccessToken, bob.User.Id, map[string]any{"role": "admin"})
	var u api.User
	r.JSON(t, &u)
	if r.StatusCode != http.StatusOK || u.Role != api.UserRoleAdmin {
		t.Fatalf("promote: %d %s", r.StatusCode, r.Body)
	}
	s := mustLogin(t, env, "bob@example.com", pw)
	if s.User.Role != api.UserRoleAdmin {
		t.Errorf("promoted account signs in as %q", s.User.Role)
	}
	if r := env.As(s.AccessToken, http.MethodGet, "/api/v1/admin/users", nil); r.StatusCode != http.StatusOK {
		t.Errorf("a promoted account lists users: %d %s", r.StatusCode, r.Body)
	}
	// The new admin may demote the first one (not themselves).
	if r := updateUser(env, s.AccessToken, admin.User.Id, map[string]any{"role": "user"}); r.StatusCode != http.StatusOK {
		t.Errorf("demote another admin: %d %s", r.StatusCode, r.Body)
	}
	if s := mustLogin(t, env, "admin@example.com", pw); s.User.Role != api.UserRoleUser {
		t.Errorf("demoted account signs in as %q", s.User.Role)
	}
}

// Deleting an account removes its rows and its files; itself is 409; unknown is 404.
func TestAdminDeleteUser(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	if r := env.Upload(bob.AccessToken, "notes.txt", []byte("hello")); r.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.StatusCode, r.Body)
	}
	dir := filepath.Join(env.Config.UploadDir, bob.User.Id.String())
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the upload is not on disk where expected: %v", err)
	}
	if r := env.As(admin.AccessToken, http.MethodDelete, "/api/v1/admin/users/"+bob.User.Id.String(), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode, r.Body)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the account's files are still on disk: %v", err)
	}
	wantError(t, login(env, "bob@example.com", pw), http.StatusUnauthorized, api.ErrorBodyCodeInvalidCredentials, "login after delete")
	wantError(t, refresh(env, bob.RefreshToken), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, "refresh after delete")
	wantError(t, env.As(admin.AccessToken, http.MethodDelete, "/api/v1/admin/users/"+bob.User.Id.String(), nil), http.StatusNotFound, api.ErrorBodyCodeNotFound, "delete twice")
	wantError(t, env.As(admin.AccessToken, http.MethodDelete, "/api/v1/admin/users/"+admin.User.Id.String(), nil), http.StatusConflict, api.ErrorBodyCodeConflict, "delete self")
	if r := env.As(admin.AccessToken, http.MethodGet, "/api/v1/users/me", nil); r.StatusCode != http.StatusOK {
		t.Errorf("the admin is gone: %d", r.StatusCode)
	}
	if !hasEvent(t, env, "admin_user_deleted") {
		t.Error("the deletion is not logged as a security event")
	}
}

// Listing and searching accounts: q is matched literally (LIKE metacharacters included),
// case-insensitively, in email and display name, with any script; pages are newest first.
func TestAdminListUsers(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	people := []struct{ email, name string }{
		{"percent%sign@example.com", "Percy"},
		{"under_score@example.com", "Uma"},
		{"plain@example.com", `back\slash`},
		{"emoji@example.com", "Rocket 🚀 Ride"},
		{"cjk@example.com", "山田太郎"},
		{"rtl@example.com", "שלום עולם"},
		{"ada@example.com", "Ada Lovelace"},
	}
	ids := map[string]uuid.UUID{"admin@example.com": admin.User.Id}
	for _, p := range people {
		r := env.Call(http.MethodPost, "/api/v1/auth/register", map[string]any{"email": p.email, "password": pw, "display_name": p.name})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("register %s: %d %s", p.email, r.StatusCode, r.Body)
		}
		var s api.Session
		r.JSON(t, &s)
		ids[p.email] = s.User.Id
	}
	search := func(q string) []string {
		t.Helper()
		r := env.As(admin.AccessToken, http.MethodGet, "/api/v1/admin/users?limit=100&q="+url.QueryEscape(q), nil)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("q=%q: %d %s", q, r.StatusCode, r.Body)
		}
		var l api.UserList
		r.JSON(t, &l)
		var got []string
		for _, u := range l.Items {
			got = append(got, string(u.Email))
		}
		slices.Sort(got)
		return got
	}
	for q, want := range map[string][]string{
		"%":                       {"percent%sign@example.com"},
		"_":                       {"under_score@example.com"},
		`\`:                       {"plain@example.com"},
		`\s`:                      {"plain@example.com"},
		"%%":                      nil,
		"t%s":                     {"percent%sign@example.com"}, // literally there
		"p%n":                     nil,                          // would match "plain" as a pattern
		"a_a":                     nil,                          // would match "ada" as a pattern
		"🚀":                       {"emoji@example.com"},
		"山田":                      {"cjk@example.com"},
		"שלום":                    {"rtl@example.com"},
		"\u202eevil":              nil,
		"ADA":                     {"ada@example.com"},
		"LOVELACE":                {"ada@example.com"},
		"example":                 {"ada@example.com", "admin@example.com", "cjk@example.com", "emoji@example.com", "percent%sign@example.com", "plain@example.com", "rtl@example.com", "under_score@example.com"},
		"nobody":                  nil,
		"'; DROP TABLE users; --": nil,
	} {
		if diff := cmp.Diff(want, search(q)); diff != "" {
			t.Errorf("q=%q (-want +got):\n%s", q, diff)
		}
	}

	// Pages of 3, newest first, each account once; with q too.
	page := func(q string) []uuid.UUID {
		var got []uuid.UUID
		path := "/api/v1/admin/users?limit=3" + q
		for pages := 0; path != ""; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			r := env.As(admin.AccessToken, http.MethodGet, path, nil)
			var l api.UserList
			r.JSON(t, &l)
			for _, u := range l.Items {
				got = append(got, u.Id)
			}
			path = ""
			if l.NextCursor != nil {
				path = "/api/v1/admin/users?limit=3" + q + "&cursor=" + url.QueryEscape(*l.NextCursor)
			}
		}
		return got
	}
	all := page("")
	want := []uuid.UUID{admin.User.Id}
	for _, p := range people {
		want = append([]uuid.UUID{ids[p.email]}, want...)
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("pages, want newest first (-want +got):\n%s", diff)
	}
	if got := page("&q=example"); len(got) != 8 {
		t.Errorf("paged search found %d, want 8", len(got))
	}
	for _, q := range []string{"q=", "q=" + strings.Repeat("a", 201), "limit=0", "limit=101", "cursor=bogus"} {
		wantError(t, env.As(admin.AccessToken, http.MethodGet, "/api/v1/admin/users?"+q, nil), http.StatusUnprocessableEntity, api.ErrorBodyCodeValidationError, q)
	}
}

// A password reset end to end: the admin issues a token (a second one voids the first);
// the token sets a new password, ends every session, deletes the API keys and clears the
// login back-off; it works once.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	other := mustLogin(t, env, "bob@example.com", pw)
	kr := env.As(bob.AccessToken, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "laptop", "current_password": pw})
	if kr.StatusCode != http.StatusCreated {
		t.Fatalf("create key: %d %s", kr.StatusCode, kr.Body)
	}
	var key api.ApiKeyCreated
	kr.JSON(t, &key)
	for range 3 {
		wantError(t, login(env, "bob@example.com", "wrong password"), http.StatusUnauthorized, api.ErrorBodyCodeInvalidCredentials, "wrong password")
	}
	var backoff int
	if err := env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM login_attempts WHERE email = 'bob@example.com'").Scan(&backoff); err != nil || backoff != 1 {
		t.Fatalf("login back-off rows = %d, %v; want 1", backoff, err)
	}

	issue := func() api.PasswordReset {
		t.Helper()
		r := env.As(admin.AccessToken, http.MethodPost, "/api/v1/admin/users/"+bob.User.Id.String()+"/password-reset", nil)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("issue reset: %d %s", r.StatusCode, r.Body)
		}
		var pr api.PasswordReset
		r.JSON(t, &pr)
		if !strings.HasPrefix(pr.Token, "pr_") || !pr.ExpiresAt.After(time.Now()) {
			t.Errorf("reset = %+v", pr)
		}
		return pr
	}
	first := issue()
	second := issue()
	reset := func(token, password string) *apitest.Response {
		return env.Call(http.MethodPost, "/api/v1/auth/password-reset", map[string]any{"token": token, "new_password": password})
	}
	const newPW = "staple battery horse correct"
	e := wantError(t, reset(first.Token, newPW), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, "voided token")
	if e.Message != "the reset token is invalid, expired or already used" {
		t.Errorf("message %q", e.Message)
	}
	if r := reset(second.Token, newPW); r.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %d %s", r.StatusCode, r.Body)
	}
	for i, s := range []api.Session{bob, other} {
		wantError(t, refresh(env, s.RefreshToken), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, fmt.Sprint("old session ", i))
	}
	var keys, failures int
	if err := env.Pool.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM api_keys WHERE user_id = $1), (SELECT count(*) FROM login_attempts WHERE email = 'bob@example.com')", bob.User.Id).Scan(&keys, &failures); err != nil {
		t.Fatal(err)
	}
	if keys != 0 || failures != 0 {
		t.Errorf("after reset: %d API keys, %d login failures; want none", keys, failures)
	}
	wantError(t, login(env, "bob@example.com", pw), http.StatusUnauthorized, api.ErrorBodyCodeInvalidCredentials, "old password")
	mustLogin(t, env, "bob@example.com", newPW)
	wantError(t, reset(second.Token, "yet another password"), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, "reuse")
	wantError(t, reset("pr_unknown", "yet another password"), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, "unknown token")

	// Expired.
	third := issue()
	if _, err := env.Pool.Exec(context.Background(), "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = $1", bob.User.Id); err != nil {
		t.Fatal(err)
	}
	wantError(t, reset(third.Token, "yet another password"), http.StatusUnauthorized, api.ErrorBodyCodeUnauthorized, "expired token")
	mustLogin(t, env, "bob@example.com", newPW)

	// Bad requests.
	wantError(t, env.As(admin.AccessToken, http.MethodPost, "/api/v1/admin/users/"+uuid.New().String()+"/password-reset", nil), http.StatusNotFound, api.ErrorBodyCodeNotFound, "unknown user")
	wantError(t, reset(issue().Token, "short"), http.StatusUnprocessableEntity, api.ErrorBodyCodeValidationError, "short password")
	if !hasEvent(t, env, "admin_password_reset_issued") || !hasEvent(t, env, "password_reset") {
		t.Error("resets are not logged as security events")
	}
	noSecretsLogged(t, env, first.Token, second.Token, third.Token, key.Key)
}

// adminOps is every admin operation, with a valid body.
func adminOps(target uuid.UUID) []struct {
	method, path string
	body         any
} {
	u := "/api/v1/admin/users/" + target.String()
	return []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/api/v1/admin/users", nil},
		{http.MethodPatch, u, map[string]any{"disabled": true}},
		{http.MethodDelete, u, nil},
		{http.MethodPost, u + "/password-reset", nil},
		{http.MethodGet, "/api/v1/admin/invites", nil},
		{http.MethodPost, "/api/v1/admin/invites", map[string]any{}},
		{http.MethodDelete, "/api/v1/admin/invites/" + uuid.New().String(), nil},
	}
}

// A non-admin gets 403 on every admin operation, and nothing changes.
func TestAdminForbiddenForUsers(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	for _, op := range adminOps(admin.User.Id) {
		wantError(t, env.As(bob.AccessToken, op.method, op.path, op.body), http.StatusForbidden, api.ErrorBodyCodeForbidden, "user: "+op.method+" "+op.path)
	}
	if r := login(env, "admin@example.com", pw); r.StatusCode != http.StatusOK {
		t.Errorf("the admin was changed by a user: %d", r.StatusCode)
	}
	// A demoted admin is refused too.
	carol := env.Register("carol@example.com", pw)
	updateUser(env, admin.AccessToken, carol.User.Id, map[string]any{"role": "admin"})
	updateUser(env, admin.AccessToken, carol.User.Id, map[string]any{"role": "user"})
	s := mustLogin(t, env, "carol@example.com", pw)
	wantError(t, env.As(s.AccessToken, http.MethodGet, "/api/v1/admin/users", nil), http.StatusForbidden, api.ErrorBodyCodeForbidden, "demoted admin")
}

// An admin's API key gets 403 on every admin operation.
func TestAdminForbiddenForAPIKeys(t *testing.T) {
	t.Parallel()
	env, admin := setup(t)
	bob := env.Register("bob@example.com", pw)
	kr := env.As(admin.AccessToken, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "ci", "current_password": pw})
	if kr.StatusCode != http.StatusCreated {
		t.Fatalf("create key: %d %s", kr.StatusCode, kr.Body)
	}
	var key api.ApiKeyCreated
	kr.JSON(t, &key)
	for _, op := range adminOps(bob.User.Id) {
		wantError(t, env.As(key.Key, op.method, op.path, op.body), http.StatusForbidden, api.ErrorBodyCodeForbidden, "API key: "+op.method+" "+op.path)
	}
	if r := login(env, "bob@example.com", pw); r.StatusCode != http.StatusOK {
		t.Errorf("bob was changed through an API key: %d", r.StatusCode)
	}
}

// Two admins demoting each other at the same moment: one change wins, the other is refused,
// and the installation keeps an enabled admin.
func TestTheLastAdminStays(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		env, a := setup(t)
		env.Register("b@example.com", pw)
		b := mustLogin(t, env, "b@example.com", pw)
		if r := updateUser(env, a.AccessToken, b.User.Id, map[string]any{"role": "admin"}); r.StatusCode != http.StatusOK {
			t.Fatalf("promote: %d %s", r.StatusCode, r.Body)
		}
		var wg sync.WaitGroup
		codes := make([]int, 2)
		wg.Go(func() {
			codes[0] = updateUser(env, a.AccessToken, b.User.Id, map[string]any{"role": "user"}).StatusCode
		})
		wg.Go(func() {
			codes[1] = updateUser(env, b.AccessToken, a.User.Id, map[string]any{"disabled": true}).StatusCode
		})
		wg.Wait()
		slices.Sort(codes)
		// The loser is refused as whatever it is by then: still an admin (409, the last one),
		// demoted (403) or disabled (401).
		if codes[0] != http.StatusOK || (codes[1] != http.StatusConflict && codes[1] != http.StatusForbidden && codes[1] != http.StatusUnauthorized) {
			t.Errorf("round %d: demoting each other at once: %v, want one 200 and one refusal", round, codes)
		}
		var admins int
		if err := env.Pool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL`).Scan(&admins); err != nil {
			t.Fatal(err)
		}
		if admins != 1 {
			t.Errorf("round %d: %d enabled admins left", round, admins)
		}
	}
}
