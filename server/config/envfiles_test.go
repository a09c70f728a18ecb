package config_test

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"assistant/server/config"
)

// settings are the variables Load reads, found by recording its getenv calls.
func settings() []string {
	seen := map[string]bool{}
	_, _ = config.Load(func(k string) string { seen[k] = true; return "" })
	var out []string
	for k := range seen {
		_, retired := config.Retired[k]
		if _, deprecated := config.Deprecated[k]; !retired && !deprecated {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func envFile(t *testing.T, name string) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: not KEY=value: %q", name, line)
			continue
		}
		keys[k] = true
	}
	return keys
}

// Both example files list every setting, and nothing that is not one.
func TestEnvExamplesMatchTheConfig(t *testing.T) {
	t.Parallel()
	want := settings()
	if len(want) < 20 {
		t.Fatalf("only %d settings recorded: %v", len(want), want)
	}
	for _, file := range []string{".env.example", ".env.production.example"} {
		got := envFile(t, file)
		for _, k := range want {
			if !got[k] {
				t.Errorf("%s does not document %s", file, k)
			}
			delete(got, k)
		}
		if file == ".env.production.example" {
			// docker-compose.yml's own variable: the database's password.
			delete(got, "POSTGRES_PASSWORD")
		}
		for k := range got {
			t.Errorf("%s lists %s, which the server does not read", file, k)
		}
	}
}

func envValues(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			vals[k] = v
		}
	}
	return vals
}

// The production example is valid once its placeholders are filled, and its secret
// placeholder alone is refused.
func TestProductionExampleIsSafe(t *testing.T) {
	t.Parallel()
	vals := envValues(t, ".env.production.example")
	_, err := config.Load(func(k string) string { return vals[k] })
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") || strings.Count(err.Error(), "\n") != 1 {
		t.Fatalf("placeholder secret: %v", err)
	}
	vals["JWT_SECRET"] = goodSecret
	c, err := config.Load(func(k string) string { return vals[k] })
	if err != nil {
		t.Fatalf("filled-in production example: %v", err)
	}
	if c.DocsEnabled || c.AppEnv != config.Production || c.RateLimitBackend != "redis" {
		t.Errorf("production example: %+v", c)
	}
	dev := envValues(t, ".env.example")
	if _, err := config.Load(func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://localhost/assistant"
		}
		return dev[k]
	}); err != nil {
		t.Errorf("development example: %v", err)
	}
}
