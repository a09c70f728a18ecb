package httpapi_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"assistant/gen/api"
	"assistant/server/testutil/apitest"
)

// /health reports the contract it serves, the spec's info.version (semver), beside the
// build's version.
func TestHealthReportsAPIVersion(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`).MatchString(spec.Info.Version) {
		t.Errorf("info.version %q is not semver", spec.Info.Version)
	}
	r := env.Call(http.MethodGet, "/api/v1/health", nil)
	var h api.Health
	r.JSON(t, &h)
	if diff := cmp.Diff([]string{"test", spec.Info.Version}, []string{h.Version, h.ApiVersion}); diff != "" {
		t.Errorf("health's versions (-want +got):\n%s", diff)
	}
}
