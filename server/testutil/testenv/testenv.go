// Package testenv reads the services tests run against from the environment:
// TEST_DATABASE_URL (PostgreSQL), TEST_REDIS_URL and TEST_S3_URL (an S3 server:
// http://KEY:SECRET@host:port/BUCKET). `make test` and scripts/test.sh start private ones and
// set all three (scripts/with-services.sh). Without them, `go test` fails at
// once: the first test that needs a missing service fails with one line saying how to run
// it, and the other tests that need one skip, so the run neither waits on a connection nor
// repeats the line for every test.
package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Database, Redis and S3 name the variables.
const (
	Database = "TEST_DATABASE_URL"
	Redis    = "TEST_REDIS_URL"
	S3       = "TEST_S3_URL"
)

var reported atomic.Bool

// URL returns the variable's value, failing (or, after the first failure of the process,
// skipping) the test when it is not set.
func URL(t testing.TB, name string) string {
	t.Helper()
	if u := os.Getenv(name); u != "" {
		return u
	}
	if !reported.CompareAndSwap(false, true) {
		t.Skipf("%s is not set (see the failure above)", name)
	}
	test, _, _ := strings.Cut(t.Name(), "/")
	t.Fatalf("%s is not set: run `make test`, or `scripts/test.sh %s -run '^%s$'` for this test alone", name, pkgDir(), test)
	return ""
}

// pkgDir is the test's package directory relative to the module root (go test runs a test
// binary in its package's directory), or "./..." when that cannot be told.
func pkgDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "./..."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "./..."
			}
			return "./" + filepath.ToSlash(rel) + "/"
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "./..."
		}
		dir = parent
	}
}
