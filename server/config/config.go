// Package config reads the server's settings from the environment, once, into a typed
// struct. Every bad value is reported in one error, so an operator fixes them in one go.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	Development = "development"
	Production  = "production"
)

// Config holds every setting. Defaults are documented in .env.example.
type Config struct {
	AppEnv      string
	HTTPAddr    string
	DatabaseURL string
	LogLevel    slog.Level
	DocsEnabled bool

	// ShutdownTimeout bounds how long in-flight requests get to finish after SIGTERM.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout and WriteTimeout are the HTTP server's; routes that
	// stream (uploads, server-sent events) extend their own deadlines.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// CORSAllowedOrigins enables CORS for these origins; empty disables CORS.
	CORSAllowedOrigins []string
	// MaxJSONBodyBytes caps every request body that is not an upload.
	MaxJSONBodyBytes int64
	// HealthCheckTimeout bounds each dependency check of GET /health.
	HealthCheckTimeout time.Duration
}

// Getenv is os.Getenv's shape; tests pass a map-backed one.
type Getenv func(string) string

// Load reads and validates the configuration. The error lists every bad value.
func Load(getenv Getenv) (Config, error) {
	p := parser{getenv: getenv}
	var c Config

	c.AppEnv = p.oneOf("APP_ENV", Development, Development, Production)
	prod := c.AppEnv == Production

	c.HTTPAddr = p.str("HTTP_ADDR", ":8080")
	c.DatabaseURL = p.databaseURL("DATABASE_URL")
	c.LogLevel = p.logLevel("LOG_LEVEL", "info")
	c.DocsEnabled = p.boolean("DOCS_ENABLED", !prod)
	c.ShutdownTimeout = p.duration("SHUTDOWN_TIMEOUT", 20*time.Second)
	c.ReadHeaderTimeout = p.duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second)
	c.ReadTimeout = p.duration("HTTP_READ_TIMEOUT", 30*time.Second)
	c.WriteTimeout = p.duration("HTTP_WRITE_TIMEOUT", 30*time.Second)
	c.IdleTimeout = p.duration("HTTP_IDLE_TIMEOUT", 120*time.Second)
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES")
	c.CORSAllowedOrigins = p.origins("CORS_ALLOWED_ORIGINS")
	c.MaxJSONBodyBytes = p.size("MAX_JSON_BODY_BYTES", 1<<20)
	c.HealthCheckTimeout = p.duration("HEALTH_CHECK_TIMEOUT", 2*time.Second)

	if prod {
		for _, o := range c.CORSAllowedOrigins {
			if o == "*" {
				p.fail("CORS_ALLOWED_ORIGINS", "must list origins, not *, in production")
			}
		}
	}
	return c, p.err()
}

// LogValue lists the settings for the start-up log line, with secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("app_env", c.AppEnv),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("database_url", maskURL(c.DatabaseURL)),
		slog.String("log_level", c.LogLevel.String()),
		slog.Bool("docs_enabled", c.DocsEnabled),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Int("trusted_proxies", len(c.TrustedProxies)),
		slog.Any("cors_allowed_origins", c.CORSAllowedOrigins),
		slog.Int64("max_json_body_bytes", c.MaxJSONBodyBytes),
	)
}

func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// parser collects one problem per bad variable.
type parser struct {
	getenv   Getenv
	problems []string
}

func (p *parser) fail(name, msg string) {
	p.problems = append(p.problems, name+": "+msg)
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return errors.New("invalid configuration:\n  " + strings.Join(p.problems, "\n  "))
}

func (p *parser) raw(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) str(name, def string) string {
	if v, ok := p.raw(name); ok {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
	return def
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Sprintf("%q is not a boolean (true or false)", v))
		return def
	}
	return b
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, fmt.Sprintf("%q is not a positive duration such as 15m, 1m or 2s", v))
		return def
	}
	return d
}

func (p *parser) size(name string, def int64) int64 {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		p.fail(name, fmt.Sprintf("%q is not a positive number of bytes", v))
		return def
	}
	return n
}

func (p *parser) logLevel(name, def string) slog.Level {
	v := strings.ToLower(p.str(name, def))
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, fmt.Sprintf("%q is not one of debug, info, warn, error", v))
		return slog.LevelInfo
	}
	return l
}

func (p *parser) databaseURL(name string) string {
	v, ok := p.raw(name)
	if !ok {
		p.fail(name, "is required (postgres://user:password@host:5432/db?sslmode=disable)")
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && u.Query().Get("host") == "" {
		p.fail(name, "is not a postgres:// URL")
	}
	return v
}

func (p *parser) prefixes(name string) []netip.Prefix {
	v, ok := p.raw(name)
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if pr, err := netip.ParsePrefix(f); err == nil {
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			p.fail(name, fmt.Sprintf("%q is neither an IP address nor a CIDR prefix", f))
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

func (p *parser) origins(name string) []string {
	v, ok := p.raw(name)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f != "*" {
			u, err := url.Parse(f)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
				p.fail(name, fmt.Sprintf("%q is not an origin such as https://app.example.com", f))
				continue
			}
		}
		out = append(out, f)
	}
	return out
}
