package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

// The routes the server answers are exactly the spec's operations (plus the docs routes
// when DOCS_ENABLED): nothing undocumented, no debug handler on the public listener.
func TestRoutesAreTheSpec(t *testing.T) {
	t.Parallel()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			want = append(want, method+" /api/v1"+path)
		}
	}
	slices.Sort(want)

	for _, docs := range []bool{false, true} {
		env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.DocsEnabled = docs }))
		var got []string
		err := chi.Walk(env.Handler.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			route = strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "/*")
			if docs && (strings.HasPrefix(route, "/api/v1/docs") || strings.HasPrefix(route, "/api/v1/openapi.")) {
				return nil
			}
			got = append(got, method+" "+route)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("docs=%v: routes differ from the spec (-spec +routes):\n%s", docs, diff)
		}
	}
}
