package accounts_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

func TestRegisterLoginAndMe(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)

	r := env.Call(http.MethodPost, "/api/v1/auth/register", map[string]any{
		"email": "  Ada@Example.COM ", "password": "correct horse battery", "display_name": "Ada",
	})
	// The validator rejects the untrimmed address: emails must be addresses.
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("untrimmed email: %d %s", r.StatusCode, r.Body)
	}
	first := env.Register("Ada@Example.COM", "correct horse battery")
	if first.User.Email != "ada@example.com" || first.User.Role != api.UserRoleAdmin || first.TokenType != api.Bearer {
		t.Errorf("first user = %+v", first.User)
	}
	if first.User.DisplayName != "ada" {
		t.Errorf("display name defaults to the email's local part, got %q", first.User.DisplayName)
	}
	if first.ExpiresIn != int((15 * time.Minute).Seconds()) {
		t.Errorf("expires_in = %d", first.ExpiresIn)
	}
	second := env.Register("bob@example.com", "another good password")
	if second.User.Role != api.UserRoleUser {
		t.Errorf("second user role = %q, want user", second.User.Role)
	}

	dup := env.Call(http.MethodPost, "/api/v1/auth/register", map[string]any{"email": "ADA@example.com", "password": "whatever12345"})
	if dup.StatusCode != http.StatusConflict || dup.Envelope(t).Code != api.ErrorBodyCodeConflict {
		t.Errorf("duplicate email: %d %s", dup.StatusCode, dup.Body)
	}

	login := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ADA@example.com", "password": "correct horse battery"})
	if login.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", login.StatusCode, login.Body)
	}
	var s api.Session
	login.JSON(t, &s)
	me := env.As(s.AccessToken, http.MethodGet, "/api/v1/users/me", nil)
	var u api.User
	me.JSON(t, &u)
	if me.StatusCode != http.StatusOK || u.Id != first.User.Id {
		t.Errorf("me: %d %s", me.StatusCode, me.Body)
	}
	if strings.Contains(string(me.Body), "password") {
		t.Errorf("the user leaks password data: %s", me.Body)
	}
	if me.Header.Get("Cache-Control") != "no-store" || login.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("private answers may be cached: %q, %q", me.Header.Get("Cache-Control"), login.Header.Get("Cache-Control"))
	}
}

// An unknown email and a wrong password are indistinguishable to the client.
func TestLoginFailuresLookTheSame(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	env.Register("ada@example.com", "correct horse battery")
	wrong := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ada@example.com", "password": "wrong password"})
	unknown := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": "wrong password"})
	for _, r := range []*apitest.Response{wrong, unknown} {
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d: %s", r.StatusCode, r.Body)
		}
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
	a, b := wrong.Envelope(t), unknown.Envelope(t)
	if a.Code != api.ErrorBodyCodeInvalidCredentials {
		t.Errorf("wrong password: code %q, want %q", a.Code, api.ErrorBodyCodeInvalidCredentials)
	}
	if diff := cmp.Diff(a, b, cmpopts.IgnoreFields(api.ErrorBody{}, "RequestId")); diff != "" {
		t.Errorf("an unknown email is told apart from a wrong password (-wrong password +unknown email):\n%s", diff)
	}
}

func TestPasswordLimitsAreCharacters(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	cases := []struct {
		password string
		status   int
	}{
		{strings.Repeat("é", 8), http.StatusCreated},   // 8 characters, 16 bytes
		{strings.Repeat("😀", 128), http.StatusCreated}, // 128 characters, 512 bytes
		{strings.Repeat("😀", 129), http.StatusUnprocessableEntity},
		{strings.Repeat("a", 1000), http.StatusUnprocessableEntity},
		{"1234567", http.StatusUnprocessableEntity},
	}
	for i, c := range cases {
		email := "user" + string(rune('a'+i)) + "@example.com"
		r := env.Call(http.MethodPost, "/api/v1/auth/register", map[string]any{"email": email, "password": c.password})
		if r.StatusCode != c.status {
			t.Errorf("password of %d characters: %d, want %d: %s", len([]rune(c.password)), r.StatusCode, c.status, r.Body)
			continue
		}
		if c.status == http.StatusCreated {
			l := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": email, "password": c.password})
			if l.StatusCode != http.StatusOK {
				t.Errorf("login with the multi-byte password: %d", l.StatusCode)
			}
		}
	}
}

func TestRegistrationDisabled(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.RegistrationMode = "closed" }))
	r := env.Call(http.MethodPost, "/api/v1/auth/register", map[string]any{"email": "a@example.com", "password": "correct horse battery"})
	if r.StatusCode != http.StatusForbidden || r.Envelope(t).Code != api.ErrorBodyCodeForbidden {
		t.Fatalf("got %d %s", r.StatusCode, r.Body)
	}
}

func refresh(env *apitest.Env, token string) *apitest.Response {
	return env.Call(http.MethodPost, "/api/v1/auth/refresh", map[string]any{"refresh_token": token})
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s1 := env.Register("ada@example.com", "correct horse battery")

	r := refresh(env, s1.RefreshToken)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.StatusCode, r.Body)
	}
	var s2 api.Session
	r.JSON(t, &s2)
	if s2.RefreshToken == s1.RefreshToken || s2.AccessToken == "" {
		t.Fatal("refresh did not rotate the token")
	}
	if me := env.As(s2.AccessToken, http.MethodGet, "/api/v1/users/me", nil); me.StatusCode != http.StatusOK {
		t.Fatalf("new access token: %d", me.StatusCode)
	}

	// Replaying the used token: 401, and the newest token of the family dies with it.
	if r := refresh(env, s1.RefreshToken); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reused token: %d %s", r.StatusCode, r.Body)
	}
	if r := refresh(env, s2.RefreshToken); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the family's newest token still works after reuse: %d %s", r.StatusCode, r.Body)
	}
	if !strings.Contains(env.Logs.String(), `"event":"refresh_reuse_detected"`) {
		t.Error("reuse was not logged")
	}

	// Another session of the same account is untouched.
	other := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ada@example.com", "password": "correct horse battery"})
	var s3 api.Session
	other.JSON(t, &s3)
	if r := refresh(env, s3.RefreshToken); r.StatusCode != http.StatusOK {
		t.Fatalf("another session: %d", r.StatusCode)
	}

	if r := refresh(env, "rt_made-up"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown token: %d", r.StatusCode)
	}
}

func TestLogoutEndsTheSession(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s := env.Register("ada@example.com", "correct horse battery")
	// No bearer token needed: an expired access token must not stop a logout.
	r := env.Call(http.MethodPost, "/api/v1/auth/logout", map[string]any{"refresh_token": s.RefreshToken})
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}
	if r := refresh(env, s.RefreshToken); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refresh after logout: %d", r.StatusCode)
	}
	if r := env.Call(http.MethodPost, "/api/v1/auth/logout", map[string]any{"refresh_token": s.RefreshToken}); r.StatusCode != http.StatusNoContent {
		t.Errorf("second logout: %d", r.StatusCode)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	a := env.Register("ada@example.com", "correct horse battery")
	b := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ada@example.com", "password": "correct horse battery"})
	var other api.Session
	b.JSON(t, &other)

	wrong := env.As(a.AccessToken, http.MethodPut, "/api/v1/users/me/password", map[string]any{"current_password": "nope", "new_password": "a brand new password"})
	if wrong.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong current password: %d %s", wrong.StatusCode, wrong.Body)
	}
	ok := env.As(a.AccessToken, http.MethodPut, "/api/v1/users/me/password", map[string]any{"current_password": "correct horse battery", "new_password": "a brand new password"})
	if ok.StatusCode != http.StatusNoContent {
		t.Fatalf("change: %d %s", ok.StatusCode, ok.Body)
	}
	if r := refresh(env, other.RefreshToken); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the other session survived the password change: %d", r.StatusCode)
	}
	if r := refresh(env, a.RefreshToken); r.StatusCode != http.StatusOK {
		t.Errorf("the session that changed the password ended: %d", r.StatusCode)
	}
	if r := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ada@example.com", "password": "correct horse battery"}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("old password still works: %d", r.StatusCode)
	}
	if r := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ada@example.com", "password": "a brand new password"}); r.StatusCode != http.StatusOK {
		t.Errorf("new password does not work: %d", r.StatusCode)
	}
}

func TestUpdateAndDeleteMe(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	a := env.Register("ada@example.com", "correct horse battery")
	env.Register("bob@example.com", "correct horse battery")

	r := env.As(a.AccessToken, http.MethodPatch, "/api/v1/users/me", map[string]any{"display_name": "Ada L."})
	var u api.User
	r.JSON(t, &u)
	if r.StatusCode != http.StatusOK || u.DisplayName != "Ada L." || u.Email != "ada@example.com" {
		t.Fatalf("patch: %d %s", r.StatusCode, r.Body)
	}
	if r := env.As(a.AccessToken, http.MethodPatch, "/api/v1/users/me", map[string]any{"email": "BOB@example.com", "current_password": "correct horse battery"}); r.StatusCode != http.StatusConflict {
		t.Errorf("taking another account's email: %d %s", r.StatusCode, r.Body)
	}
	if r := env.As(a.AccessToken, http.MethodPatch, "/api/v1/users/me", map[string]any{}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("empty patch: %d", r.StatusCode)
	}
	if r := env.As(a.AccessToken, http.MethodPatch, "/api/v1/users/me", map[string]any{"role": "admin"}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("mass assignment of role: %d", r.StatusCode)
	}
	if r := env.As(a.AccessToken, http.MethodPatch, "/api/v1/users/me", map[string]any{"display_name": "   "}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("blank display name: %d", r.StatusCode)
	}

	if r := env.As(a.AccessToken, http.MethodDelete, "/api/v1/users/me", nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode, r.Body)
	}
	if r := env.As(a.AccessToken, http.MethodGet, "/api/v1/users/me", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a deleted account's token still works: %d", r.StatusCode)
	}
	if r := refresh(env, a.RefreshToken); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a deleted account's refresh token still works: %d", r.StatusCode)
	}
	var n int
	if err := env.Pool.QueryRow(t.Context(), "SELECT count(*) FROM refresh_tokens WHERE user_id = $1", a.User.Id).Scan(&n); err != nil || n != 0 {
		t.Errorf("refresh tokens left behind: %d %v", n, err)
	}
	// The email is free again.
	env.Register("ada@example.com", "correct horse battery")
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	a := env.Register("ada@example.com", "correct horse battery")
	b := env.Register("bob@example.com", "correct horse battery")

	r := env.As(a.AccessToken, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "script", "current_password": "correct horse battery"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.Body)
	}
	var k api.ApiKeyCreated
	r.JSON(t, &k)
	if !strings.HasPrefix(k.Key, "ak_") || !strings.HasPrefix(k.Key, k.Prefix) {
		t.Errorf("key %q with prefix %q", k.Key, k.Prefix)
	}
	me := env.As(k.Key, http.MethodGet, "/api/v1/users/me", nil)
	var u api.User
	me.JSON(t, &u)
	if me.StatusCode != http.StatusOK || u.Id != a.User.Id {
		t.Fatalf("using the key: %d %s", me.StatusCode, me.Body)
	}

	list := env.As(a.AccessToken, http.MethodGet, "/api/v1/users/me/api-keys", nil)
	var l api.ApiKeyList
	list.JSON(t, &l)
	if len(l.Items) != 1 || l.Items[0].LastUsedAt == nil || strings.Contains(string(list.Body), k.Key) {
		t.Errorf("list: %s", list.Body)
	}

	// Someone else's key is 404, and stays usable.
	if r := env.As(b.AccessToken, http.MethodDelete, "/api/v1/users/me/api-keys/"+k.Id.String(), nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("deleting another's key: %d", r.StatusCode)
	}
	if r := env.As(a.AccessToken, http.MethodDelete, "/api/v1/users/me/api-keys/"+k.Id.String(), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r := env.As(k.Key, http.MethodGet, "/api/v1/users/me", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a revoked key still works: %d", r.StatusCode)
	}

	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if r := env.As(a.AccessToken, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "old", "expires_at": past, "current_password": "correct horse battery"}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("expiry in the past: %d", r.StatusCode)
	}
	// A key that expires stops working.
	soon := env.As(a.AccessToken, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "soon", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "current_password": "correct horse battery"})
	var sk api.ApiKeyCreated
	soon.JSON(t, &sk)
	if _, err := env.Pool.Exec(t.Context(), "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", sk.Id); err != nil {
		t.Fatal(err)
	}
	if r := env.As(sk.Key, http.MethodGet, "/api/v1/users/me", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("an expired key still works: %d", r.StatusCode)
	}
}

func TestAPIKeyPagination(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	a := env.Register("ada@example.com", "correct horse battery")
	for i := 0; i < 5; i++ {
		env.As(a.AccessToken, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "k" + string(rune('0'+i)), "current_password": "correct horse battery"})
	}
	var names []string
	path := "/api/v1/users/me/api-keys?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := env.As(a.AccessToken, http.MethodGet, path, nil)
		var l api.ApiKeyList
		r.JSON(t, &l)
		for _, k := range l.Items {
			names = append(names, k.Name)
		}
		if l.NextCursor == nil {
			break
		}
		path = "/api/v1/users/me/api-keys?limit=2&cursor=" + *l.NextCursor
	}
	if got := strings.Join(names, ","); got != "k4,k3,k2,k1,k0" {
		t.Errorf("pages gave %s", got)
	}
}

// Through the router, every kind of bad bearer value is the 401 envelope.
func TestBadBearerTokens(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s := env.Register("ada@example.com", "correct horse battery")
	parts := strings.Split(s.AccessToken, ".")
	for name, tok := range map[string]string{
		"refresh token as bearer": s.RefreshToken,
		"alg none":                "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".",
		"bad signature":           parts[0] + "." + parts[1] + ".AAAA",
		"unknown api key":         "ak_unknown",
		"garbage":                 "x",
	} {
		r := env.As(tok, http.MethodGet, "/api/v1/users/me", nil)
		if r.StatusCode != http.StatusUnauthorized || r.Envelope(t).Code != api.ErrorBodyCodeUnauthorized {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
		}
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", name, r.Header.Get("WWW-Authenticate"))
		}
	}
}

// An access token outlives its account by at most its lifetime; using it to write then is
// a 401, never a 500.
func TestTokenOfADeletedAccount(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s := env.Register("ada@example.com", "correct horse battery")
	if r := env.As(s.AccessToken, http.MethodDelete, "/api/v1/users/me", nil); r.StatusCode != http.StatusNoContent {
		t.Fatal(r.StatusCode)
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/conversations"}, {http.MethodPost, "/api/v1/users/me/api-keys"},
	} {
		body := map[string]any{}
		if strings.Contains(c.path, "api-keys") {
			body["name"] = "k"
		}
		r := env.As(s.AccessToken, c.method, c.path, body)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.StatusCode, r.Body)
		}
	}
	if r := env.Upload(s.AccessToken, "a.txt", []byte("a")); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("upload: %d %s", r.StatusCode, r.Body)
	}
}

// Bad input on every auth operation is a 4xx envelope naming the problem, never a 500.
func TestAuthBadInput(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	long := strings.Repeat("a", 300)
	cases := []struct {
		path   string
		body   any
		status int
	}{
		{"/api/v1/auth/register", map[string]any{"password": "correct horse battery"}, 422},
		{"/api/v1/auth/register", map[string]any{"email": "a@example.com"}, 422},
		{"/api/v1/auth/register", map[string]any{"email": long + "@example.com", "password": "correct horse battery"}, 422},
		{"/api/v1/auth/register", map[string]any{"email": "a@example.com", "password": "correct horse battery", "display_name": long}, 422},
		{"/api/v1/auth/register", map[string]any{"email": "a@example.com", "password": "correct horse battery", "display_name": ""}, 422},
		{"/api/v1/auth/register", map[string]any{"email": "ünïcödé@exämple.com", "password": "пароль-пароль"}, 201},
		{"/api/v1/auth/register", map[string]any{"email": []string{"a@example.com"}, "password": 12345678}, 422},
		{"/api/v1/auth/register", map[string]any{"email": "b@example.com", "password": "correct horse battery", "admin": true}, 422},
		{"/api/v1/auth/register", "null", 422},
		{"/api/v1/auth/login", map[string]any{"email": "a@example.com"}, 422},
		{"/api/v1/auth/login", map[string]any{"email": "a@example.com", "password": ""}, 422},
		{"/api/v1/auth/login", map[string]any{"email": "a@example.com", "password": long}, 422},
		{"/api/v1/auth/login", `{"email":"a@example.com","password":"x"`, 400},
		{"/api/v1/auth/refresh", map[string]any{}, 422},
		{"/api/v1/auth/refresh", map[string]any{"refresh_token": 5}, 422},
		{"/api/v1/auth/refresh", map[string]any{"refresh_token": long}, 422},
		{"/api/v1/auth/refresh", map[string]any{"refresh_token": "rt_x", "extra": 1}, 422},
		{"/api/v1/auth/logout", map[string]any{}, 422},
		{"/api/v1/auth/logout", `[]`, 422},
		{"/api/v1/auth/logout", `{`, 400},
		{"/api/v1/users/me/password", map[string]any{"new_password": "x"}, 401},
	}
	for _, c := range cases {
		r := env.Call(http.MethodPost, c.path, c.body)
		if c.path == "/api/v1/users/me/password" {
			r = env.Call(http.MethodPut, c.path, c.body)
		}
		if r.StatusCode != c.status {
			t.Errorf("%s %v: %d, want %d: %s", c.path, c.body, r.StatusCode, c.status, r.Body)
		}
	}
	s := env.Register("pw@example.com", "correct horse battery")
	for _, body := range []map[string]any{
		{"current_password": "correct horse battery"},
		{"current_password": "correct horse battery", "new_password": "short"},
		{"current_password": "correct horse battery", "new_password": strings.Repeat("😀", 129)},
	} {
		if r := env.As(s.AccessToken, http.MethodPut, "/api/v1/users/me/password", body); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("password change %v: %d", body, r.StatusCode)
		}
	}
}
