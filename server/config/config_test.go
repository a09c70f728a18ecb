package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"assistant/server/config"
)

func env(m map[string]string) config.Getenv {
	return func(k string) string { return m[k] }
}

const goodSecret = "k3P9vQ2xLr7sT1wY8zA4bC6dE0fG5hJ2mN"

func TestDefaultsDependOnEnvironment(t *testing.T) {
	t.Parallel()
	dev, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://u@localhost/db"}))
	if err != nil {
		t.Fatal(err)
	}
	if !dev.DocsEnabled || dev.AppEnv != "development" || dev.HTTPAddr != ":8080" || dev.LogLevel != slog.LevelInfo ||
		dev.ShutdownTimeout != 20*time.Second || !dev.JWTSecretRandom || len(dev.JWTSecret) != 32 {
		t.Errorf("development defaults: %+v", dev)
	}
	prod, err := config.Load(env(map[string]string{
		"APP_ENV": "production", "DATABASE_URL": "postgres://u:p@db/assistant", "JWT_SECRET": goodSecret, "LLM_ALLOW_ECHO": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if prod.DocsEnabled {
		t.Error("docs are on by default in production")
	}
	if dev.RegistrationMode != "open" || prod.RegistrationMode != "invite" {
		t.Errorf("registration mode: %q in development, %q in production", dev.RegistrationMode, prod.RegistrationMode)
	}
	if prod.APIKeyDefaultTTL != 90*24*time.Hour || prod.APIKeyMaxTTL != 365*24*time.Hour || prod.SessionMaxAge != 90*24*time.Hour {
		t.Errorf("key and session lifetimes: %v %v %v", prod.APIKeyDefaultTTL, prod.APIKeyMaxTTL, prod.SessionMaxAge)
	}
	old, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://u@localhost/db", "PDF_DIR": "/srv/exports"}))
	if err != nil || old.ExportDir != "/srv/exports" || len(old.Warnings) != 1 || !strings.Contains(old.Warnings[0], "EXPORT_DIR") {
		t.Errorf("the deprecated PDF_DIR: %q %v %v", old.ExportDir, old.Warnings, err)
	}
	if _, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://u@localhost/db", "PDF_DIR": "/a", "EXPORT_DIR": "/b"})); err == nil {
		t.Error("PDF_DIR and EXPORT_DIR that differ are accepted")
	}
	_, err = config.Load(env(map[string]string{"DATABASE_URL": "postgres://u@localhost/db", "REGISTRATION_ENABLED": "false"}))
	if err == nil || !strings.Contains(err.Error(), "REGISTRATION_MODE") {
		t.Errorf("a retired REGISTRATION_ENABLED: %v", err)
	}
	on, _ := config.Load(env(map[string]string{
		"APP_ENV": "production", "DATABASE_URL": "postgres://u:p@db/assistant", "JWT_SECRET": goodSecret, "DOCS_ENABLED": "true", "LLM_ALLOW_ECHO": "true",
	}))
	if !on.DocsEnabled {
		t.Error("DOCS_ENABLED=true ignored in production")
	}
}

// One error names every bad value, so an operator fixes them all in one go.
func TestEveryBadValueIsNamed(t *testing.T) {
	t.Parallel()
	_, err := config.Load(env(map[string]string{
		"APP_ENV":                  "staging",
		"DATABASE_URL":             "mysql://x",
		"LOG_LEVEL":                "loud",
		"DOCS_ENABLED":             "maybe",
		"SHUTDOWN_TIMEOUT":         "soon",
		"TRUSTED_PROXIES":          "10.0.0.0/8, not-an-ip",
		"CORS_ALLOWED_ORIGINS":     "example.com",
		"MAX_JSON_BODY_BYTES":      "-1",
		"RATE_LIMIT_AUTH_REQUESTS": "0",
		"RATE_LIMIT_BACKEND":       "redis",
		"ACCESS_TOKEN_TTL":         "-5m",
		"JWT_SECRET":               "short",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"APP_ENV", "DATABASE_URL", "LOG_LEVEL", "DOCS_ENABLED", "SHUTDOWN_TIMEOUT",
		"TRUSTED_PROXIES", "CORS_ALLOWED_ORIGINS", "MAX_JSON_BODY_BYTES", "RATE_LIMIT_AUTH_REQUESTS", "REDIS_URL",
		"ACCESS_TOKEN_TTL", "JWT_SECRET"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s not named in:\n%v", name, err)
		}
	}
	if !strings.Contains(err.Error(), `"not-an-ip"`) {
		t.Errorf("the bad value is not quoted: %v", err)
	}
}

func TestProductionRefusesUnsafeSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"APP_ENV": "production", "DATABASE_URL": "postgres://u:p@db/assistant", "JWT_SECRET": goodSecret,
		"LLM_PROVIDER": "openai", "LLM_MODEL": "gpt-4o-mini"}
	if _, err := config.Load(env(base)); err != nil {
		t.Fatalf("safe production settings refused: %v", err)
	}
	cases := map[string]map[string]string{
		"echo provider":          {"LLM_PROVIDER": "echo"},
		"openai without a model": {"LLM_MODEL": ""},
		"bad provider URL":       {"LLM_BASE_URL": "localhost:11434"},
		"missing secret":         {"JWT_SECRET": ""},
		"short secret":           {"JWT_SECRET": "abc"},
		"example secret":         {"JWT_SECRET": "change-me-change-me-change-me-change-me-1234"},
		"CORS wildcard":          {"CORS_ALLOWED_ORIGINS": "*"},
	}
	for name, over := range cases {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range over {
			m[k] = v
		}
		if _, err := config.Load(env(m)); err == nil {
			t.Errorf("%s: production started", name)
		}
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{
		"DATABASE_URL": "postgres://app:hunter2@db/assistant", "JWT_SECRET": goodSecret,
		"REDIS_URL": "redis://:redispass@cache:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("starting", "config", c)
	out := b.String()
	for _, secret := range []string{"hunter2", goodSecret, "redispass"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line leaks %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "postgres://app:xxxxx@db/assistant") {
		t.Errorf("database URL not shown masked: %s", out)
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://db/x", "TRUSTED_PROXIES": "10.0.0.0/8, 172.18.0.5,::1"}))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 172.18.0.5/32 ::1/128" {
		t.Errorf("prefixes %v", got)
	}
}
