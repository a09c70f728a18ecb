package httpapi_test

import (
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/testutil/apitest"
)

// Every operation of the spec, hit with malformed ids, parameters and bodies, with and
// without credentials: never a 5xx, always a documented status, every error the envelope
// (apitest checks the last two on each response). A fixed seed keeps it repeatable.
func TestNoServerErrorFromBadInput(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("fuzz@example.com", "correct horse battery").AccessToken
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{" ", "x", "00000000-0000-0000-0000-000000000000", uuid.NewString(), "..%2F..%2Fetc", strings.Repeat("9", 300), "%00", "null"}
	queries := []string{"", "?limit=-1", "?limit=1e9", "?limit=abc", "?cursor=", "?cursor=%ff%fe", "?q=%25%5F", "?limit=1&limit=2", "?unknown=1"}
	bodies := []string{"", "{}", "[]", "null", "0", `"x"`, `{"a":{"b":{"c":[1,2,{"d":null}]}}}`, `{"email":1e400}`, "\xff\xfe\x00",
		`{"content":"` + strings.Repeat("é", 40000) + `"}`, `{"title":null,"system_prompt":[],"model":{}}`, `{"format":"pdf","x":1}`,
		`{"refresh_token":"rt_` + strings.Repeat("a", 199) + `"}`, `{"file_ids":["x"],"content":"hi"}`, `{"file_ids":[],"content":"hi"}`}
	contentTypes := []string{"application/json", "text/plain", "multipart/form-data; boundary=x", "application/json; charset=latin1"}
	rng := rand.New(rand.NewPCG(1, 2))

	paths := spec.Paths.InMatchingOrder()
	sort.Strings(paths)
	requests := 0
	for _, path := range paths {
		for method := range spec.Paths.Value(path).Operations() {
			for i := 0; i < 30; i++ {
				p := path
				for strings.Contains(p, "{") {
					a, b := strings.Index(p, "{"), strings.Index(p, "}")
					p = p[:a] + ids[rng.IntN(len(ids))] + p[b+1:]
				}
				url := "/api/v1" + p + queries[rng.IntN(len(queries))]
				var body any
				if method != http.MethodGet {
					body = bodies[rng.IntN(len(bodies))]
				}
				req := env.Request(method, url, body)
				req.Header.Set("Content-Type", contentTypes[rng.IntN(len(contentTypes))])
				if rng.IntN(3) > 0 {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				if rng.IntN(4) == 0 {
					req.Header.Set("Last-Event-ID", ids[rng.IntN(len(ids))])
					req.Header.Set("Range", "bytes=-"+ids[rng.IntN(len(ids))])
				}
				r := env.Do(req)
				requests++
				if r.StatusCode >= 500 {
					t.Errorf("%s %s (%s): %d %s", method, url, req.Header.Get("Content-Type"), r.StatusCode, r.Body)
				}
			}
		}
	}
	t.Logf("%d requests", requests)
}
