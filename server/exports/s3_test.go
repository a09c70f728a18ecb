package exports_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"assistant/gen/api"
	"assistant/server/storage"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/s3test"
)

// Exports are stored in the bucket: made through one replica, downloaded whole and in a
// range through another, and deleted from the bucket with the export.
func TestS3Exports(t *testing.T) {
	t.Parallel()
	s3cfg := s3test.Config(t)
	f := setup(t, s3test.Use(s3cfg))
	f.seed(t, "Where is the café?", "Around the corner, past the 🚲 shop.")
	other := apitest.New(t, apitest.WithPool(f.env.Pool, f.env.DBURL), apitest.WithConfig(s3test.Use(s3cfg)))
	s, err := storage.NewS3(s3cfg)
	if err != nil {
		t.Fatal(err)
	}
	exports, uploads := s.Sub("exports"), s.Sub("uploads")
	for _, format := range []string{"pdf", "markdown", "json"} {
		e, body := f.export(t, format)
		path := "/api/v1/exports/" + e.Id.String() + "/content"
		r := other.As(f.token, http.MethodGet, path, nil)
		if r.StatusCode != http.StatusOK || !bytes.Equal(r.Body, body) {
			t.Fatalf("%s through the other replica: %d, %d bytes", format, r.StatusCode, len(r.Body))
		}
		req := other.Request(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Range", "bytes=1-4")
		if part := other.Do(req); part.StatusCode != http.StatusPartialContent || !bytes.Equal(part.Body, body[1:5]) ||
			part.Header.Get("Content-Range") != fmt.Sprintf("bytes 1-4/%d", len(body)) {
			t.Errorf("%s range: %d %q", format, part.StatusCode, part.Body)
		}
		if format == "markdown" && !strings.Contains(string(body), "🚲") {
			t.Errorf("markdown lost the emoji: %q", body)
		}
	}
	keys := s3test.Keys(t, exports)
	if len(keys) != 3 || len(s3test.Keys(t, uploads)) != 0 {
		t.Fatalf("objects: exports %v, uploads %v", keys, s3test.Keys(t, uploads))
	}
	var list struct{ Items []api.Export }
	f.env.As(f.token, http.MethodGet, "/api/v1/exports", nil).JSON(t, &list)
	if d := other.As(f.token, http.MethodDelete, "/api/v1/exports/"+list.Items[0].Id.String(), nil); d.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", d.StatusCode)
	}
	if got := s3test.Keys(t, exports); len(got) != 2 {
		t.Errorf("after deleting one export: %v", got)
	}
	if d := f.env.As(f.token, http.MethodDelete, "/api/v1/users/me", nil); d.StatusCode != http.StatusNoContent {
		t.Fatalf("delete the account: %d", d.StatusCode)
	}
	if got := s3test.Keys(t, exports); len(got) != 0 {
		t.Errorf("after deleting the account: %v", got)
	}
}
