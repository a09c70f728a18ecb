package config_test

import (
	"strings"
	"testing"

	"assistant/server/config"
)

// SEARCH_LANGUAGE is a text-search configuration's name (whether the database has it is
// checked at start-up): simple by default, an identifier or schema.identifier otherwise.
func TestSearchLanguage(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]string{"": "simple", "english": "english", "pg_catalog.german": "pg_catalog.german"} {
		c, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://u@localhost/db", "SEARCH_LANGUAGE": value}))
		if err != nil || c.SearchLanguage != want {
			t.Errorf("SEARCH_LANGUAGE=%q: %q, %v; want %q", value, c.SearchLanguage, err, want)
		}
	}
	for _, bad := range []string{"English", "simple;drop table users", "'simple'", "a.b.c", "1simple", "sim-ple", strings.Repeat("a", 64)} {
		_, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://u@localhost/db", "SEARCH_LANGUAGE": bad}))
		if err == nil || !strings.Contains(err.Error(), "SEARCH_LANGUAGE") {
			t.Errorf("SEARCH_LANGUAGE=%q: %v, want an error naming it", bad, err)
		}
	}
}
