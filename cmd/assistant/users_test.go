package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/pgtest"
)

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// usersCreate runs `assistant users create args...` with stdin.
func usersCreate(t *testing.T, dbURL, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := envOf(map[string]string{"DATABASE_URL": dbURL, "REGISTRATION_MODE": "closed", "ARGON2_MEMORY_KIB": "8192", "ARGON2_TIME": "1"})
	err = runUsers(context.Background(), append([]string{"create"}, args...), env, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// The first admin of a closed installation comes from the command line: the password is
// read from stdin and never echoed, the id is printed, and the account signs in as admin.
func TestUsersCreateMakesAnAdminThatCanSignIn(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.New(t)
	const password = "correct horse battery"
	out, errOut, err := usersCreate(t, dbURL, password+"\r\n", "--email", " Ada@Example.com ", "--admin", "--display-name", "Ada L.")
	if err != nil {
		t.Fatalf("users create: %v\n%s", err, errOut)
	}
	id, perr := uuid.Parse(strings.TrimSpace(out))
	if perr != nil {
		t.Fatalf("stdout is not the new id: %q", out)
	}
	if strings.Contains(out+errOut, password) {
		t.Errorf("the password was echoed:\n%s\n%s", out, errOut)
	}
	if !strings.Contains(errOut, `"event":"user_created_by_cli"`) {
		t.Errorf("no security event on stderr:\n%s", errOut)
	}
	// A second account, not an admin, even though it is not the first.
	out2, errOut2, err := usersCreate(t, dbURL, "another good password\n", "--email", "bob@example.com")
	if err != nil {
		t.Fatalf("users create bob: %v\n%s", err, errOut2)
	}

	env := apitest.New(t, apitest.WithPool(pool, dbURL), apitest.WithConfig(func(c *config.Config) { c.RegistrationMode = "closed" }))
	login := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "ada@example.com", "password": password})
	if login.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", login.StatusCode, login.Body)
	}
	var s api.Session
	login.JSON(t, &s)
	if s.User.Id != id || s.User.Role != api.UserRoleAdmin || s.User.DisplayName != "Ada L." {
		t.Errorf("user = %+v, want id %s, admin, Ada L.", s.User, id)
	}
	bob := env.Call(http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "bob@example.com", "password": "another good password"})
	var bs api.Session
	bob.JSON(t, &bs)
	if bob.StatusCode != http.StatusOK || bs.User.Role != api.UserRoleUser || bs.User.DisplayName != "bob" || bs.User.Id.String() != strings.TrimSpace(out2) {
		t.Errorf("bob: %d %s", bob.StatusCode, bob.Body)
	}
}

// A duplicate email is a clear error with exit code 1; bad input is exit code 2 with a
// message that never repeats the password.
func TestUsersCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.New(t)
	if _, errOut, err := usersCreate(t, dbURL, "correct horse battery\n", "--email", "ada@example.com"); err != nil {
		t.Fatalf("users create: %v\n%s", err, errOut)
	}
	_, _, err := usersCreate(t, dbURL, "correct horse battery\n", "--email", "ADA@example.com")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate email: exit %d, %v", exitCode(err), err)
	}

	long := strings.Repeat("x", 129)
	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"no email", "correct horse battery\n", nil, "--email is required"},
		{"not an email", "correct horse battery\n", []string{"--email", "ada at example.com"}, "not an email address"},
		{"email with a name", "correct horse battery\n", []string{"--email", "Ada <ada@example.com>"}, "not an email address"},
		{"no password", "", []string{"--email", "new@example.com"}, "no password"},
		{"empty line", "\nsecond line is not read\n", []string{"--email", "new@example.com"}, "no password"},
		{"short password", "seven77\n", []string{"--email", "new@example.com"}, "at least 8"},
		{"long password", long + "\n", []string{"--email", "new@example.com"}, "at most 128"},
		{"very long password", strings.Repeat("y", 10000), []string{"--email", "new@example.com"}, "at most 128"},
		{"NUL in the password", "correct\x00horse battery\n", []string{"--email", "new@example.com"}, "without NUL"},
		{"invalid UTF-8", "correct \xff horse battery\n", []string{"--email", "new@example.com"}, "UTF-8"},
		{"unknown flag", "correct horse battery\n", []string{"--email", "new@example.com", "--root"}, "flag provided but not defined"},
		{"extra argument", "correct horse battery\n", []string{"--email", "new@example.com", "extra"}, "unexpected argument"},
		{"long display name", "correct horse battery\n", []string{"--email", "new@example.com", "--display-name", strings.Repeat("é", 101)}, "at most 100"},
	} {
		_, errOut, err := usersCreate(t, dbURL, c.stdin, c.args...)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: exit %d, %v, want exit 2 and %q", c.name, exitCode(err), err, c.want)
			continue
		}
		if pw := strings.TrimSpace(c.stdin); len(pw) >= 4 && strings.Contains(err.Error()+errOut, pw) {
			t.Errorf("%s: the password was repeated: %v %s", c.name, err, errOut)
		}
	}
	// 128 characters of four bytes each is the longest password, and fine.
	if _, errOut, err := usersCreate(t, dbURL, strings.Repeat("🔑", 128), "--email", "keys@example.com"); err != nil {
		t.Errorf("128 emoji: %v\n%s", err, errOut)
	}
	// Dispatch through run: an unknown subcommand is exit 2.
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"users", "remove"}, envOf(nil), &bytes.Buffer{}, &stderr)
	if exitCode(err) != 2 || !strings.Contains(stderr.String(), "users create --email") {
		t.Errorf("users remove: exit %d, %v\n%s", exitCode(err), err, stderr.String())
	}
}
