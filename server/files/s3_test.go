package files_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/storage"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/s3test"
)

// s3Setup runs the API with STORAGE_BACKEND=s3 on a prefix of the test's own; uploads is
// the server's store of uploaded files, to look into the bucket.
func s3Setup(t *testing.T, cfg ...func(*config.Config)) (*apitest.Env, string, storage.Store) {
	t.Helper()
	s3cfg := s3test.Config(t)
	env, token := setup(t, append([]func(*config.Config){s3test.Use(s3cfg)}, cfg...)...)
	s, err := storage.NewS3(s3cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env, token, s.Sub("uploads")
}

func TestS3UploadLimitAndQuota(t *testing.T) {
	t.Parallel()
	env, token, uploads := s3Setup(t, func(c *config.Config) { c.UserStorageQuotaBytes = 1500 })
	over := env.Upload(token, "over.txt", bytes.Repeat([]byte("a"), limit+1))
	if e := over.Envelope(t); over.StatusCode != http.StatusRequestEntityTooLarge || e.Code != api.ErrorBodyCodePayloadTooLarge {
		t.Fatalf("one byte over: %d %s", over.StatusCode, over.Body)
	}
	ok := env.Upload(token, "exact.txt", bytes.Repeat([]byte("a"), limit))
	if ok.StatusCode != http.StatusCreated {
		t.Fatalf("exactly the limit: %d %s", ok.StatusCode, ok.Body)
	}
	quota := env.Upload(token, "b.txt", bytes.Repeat([]byte("b"), 600))
	if e := quota.Envelope(t); quota.StatusCode != http.StatusTooManyRequests || e.Code != api.ErrorBodyCodeQuotaExceeded {
		t.Fatalf("over the quota: %d %s", quota.StatusCode, quota.Body)
	}
	if got := s3test.Keys(t, uploads); len(got) != 1 || rows(t, env) != 1 {
		t.Errorf("after two refused uploads: bucket %v, %d rows", got, rows(t, env))
	}
}

// A file of several parts goes up as a multipart upload and comes back whole, in ranges and
// as a 304, read from the bucket.
func TestS3DownloadRangesAndETag(t *testing.T) {
	t.Parallel()
	const size = 20<<20 + 5
	env, token, uploads := s3Setup(t, func(c *config.Config) { c.MaxUploadBytes = size; c.UserStorageQuotaBytes = 2 * size })
	// Random letters in lines: text, and no two ranges alike.
	content := make([]byte, size)
	_, _ = rand.Read(content)
	for i := range content {
		content[i] = 'a' + content[i]%26
		if i%80 == 79 {
			content[i] = '\n'
		}
	}
	up := env.Upload(token, "big.txt", content)
	if up.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", up.StatusCode, up.Body)
	}
	var f api.File
	up.JSON(t, &f)
	sum := sha256.Sum256(content)
	if f.Sha256 != hex.EncodeToString(sum[:]) || f.SizeBytes != size {
		t.Fatalf("stored %d bytes, sha256 %s", f.SizeBytes, f.Sha256)
	}
	keys := s3test.Keys(t, uploads)
	if len(keys) != 1 || !strings.HasSuffix(keys[0], "/"+f.Id.String()) {
		t.Errorf("objects in the bucket: %v", keys)
	}
	path := "/api/v1/files/" + f.Id.String() + "/content"
	r := env.As(token, http.MethodGet, path, nil)
	if r.StatusCode != http.StatusOK || !bytes.Equal(r.Body, content) || r.Header.Get("ETag") != `"`+f.Sha256+`"` {
		t.Fatalf("download: %d, %d bytes, %v", r.StatusCode, len(r.Body), r.Header)
	}
	for _, rng := range [][2]int{{0, 9}, {8<<20 - 2, 8<<20 + 2}, {size - 3, size - 1}} {
		req := env.Request(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", rng[0], rng[1]))
		part := env.Do(req)
		if part.StatusCode != http.StatusPartialContent || !bytes.Equal(part.Body, content[rng[0]:rng[1]+1]) ||
			part.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", rng[0], rng[1], size) {
			t.Errorf("range %v: %d %v", rng, part.StatusCode, part.Header)
		}
	}
	req := env.Request(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Range", "bytes=99999999-")
	if bad := env.Do(req); bad.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", bad.StatusCode)
	}
	req = env.Request(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("If-None-Match", `"`+f.Sha256+`"`)
	if nm := env.Do(req); nm.StatusCode != http.StatusNotModified || len(nm.Body) != 0 {
		t.Errorf("If-None-Match: %d", nm.StatusCode)
	}
	if d := env.As(token, http.MethodDelete, "/api/v1/files/"+f.Id.String(), nil); d.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", d.StatusCode)
	}
	if got := s3test.Keys(t, uploads); len(got) != 0 {
		t.Errorf("after the delete: bucket %v", got)
	}
}

// An upload the client abandons after several parts leaves no object and no multipart
// upload (s3test checks that none is left when the test ends).
func TestS3AbortedUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	env, token, uploads := s3Setup(t, func(c *config.Config) { c.MaxUploadBytes = 100 << 20; c.UserStorageQuotaBytes = 200 << 20 })
	pr, pw := io.Pipe()
	body, ct := apitest.Multipart(`form-data; name="file"; filename="big.txt"`, pr)
	req := env.Request(http.MethodPost, "/api/v1/files", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	done := make(chan error, 1)
	go func() {
		resp, err := env.Client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if _, err := pw.Write(bytes.Repeat([]byte("x"), 20<<20)); err == nil { // past two parts
			time.Sleep(100 * time.Millisecond)
		}
		pw.CloseWithError(fmt.Errorf("client gave up"))
	}()
	<-done
	_ = pr.CloseWithError(fmt.Errorf("the request is over"))
	<-wrote
	s3 := uploads.(*storage.S3)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		left, err := s3.Incomplete(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if left, _ := s3.Incomplete(t.Context()); len(left) != 0 || len(s3test.Keys(t, uploads)) != 0 || rows(t, env) != 0 {
		t.Fatalf("after an aborted upload: incomplete %v, objects %v, %d rows", left, s3test.Keys(t, uploads), rows(t, env))
	}
}

// Replicas on different machines share the bucket: a file uploaded through one is
// downloaded through another, and deleting the account through a third removes it.
func TestS3ReplicasShareFiles(t *testing.T) {
	t.Parallel()
	s3cfg := s3test.Config(t)
	first := apitest.New(t, apitest.WithConfig(s3test.Use(s3cfg)))
	second := apitest.New(t, apitest.WithPool(first.Pool, first.DBURL), apitest.WithConfig(s3test.Use(s3cfg)))
	third := apitest.New(t, apitest.WithPool(first.Pool, first.DBURL), apitest.WithConfig(s3test.Use(s3cfg)))
	token := first.Register("ada@example.com", "correct horse battery").AccessToken
	up := first.Upload(token, "shared.txt", []byte("uploaded through the first replica"))
	var f api.File
	up.JSON(t, &f)
	if up.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", up.StatusCode, up.Body)
	}
	r := second.As(token, http.MethodGet, "/api/v1/files/"+f.Id.String()+"/content", nil)
	if r.StatusCode != http.StatusOK || string(r.Body) != "uploaded through the first replica" {
		t.Fatalf("download through the second replica: %d %q", r.StatusCode, r.Body)
	}
	if d := third.As(token, http.MethodDelete, "/api/v1/users/me", nil); d.StatusCode != http.StatusNoContent {
		t.Fatalf("delete the account: %d", d.StatusCode)
	}
	s, err := storage.NewS3(s3cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := s3test.Keys(t, s.Sub("uploads")); len(got) != 0 {
		t.Errorf("after the account's deletion: bucket %v", got)
	}
}

// Health reports the bucket: ok while it answers, a 503 naming storage when it is gone.
func TestS3Health(t *testing.T) {
	t.Parallel()
	env, _, _ := s3Setup(t)
	var h api.Health
	r := env.Call(http.MethodGet, "/api/v1/health", nil)
	r.JSON(t, &h)
	if r.StatusCode != http.StatusOK || h.Checks.Storage.Status != api.HealthCheckStatusOk {
		t.Fatalf("health: %d %s", r.StatusCode, r.Body)
	}
	s3cfg := s3test.Config(t)
	s3cfg.Bucket = "no-such-bucket-for-health"
	gone := apitest.New(t, apitest.WithPool(env.Pool, env.DBURL), apitest.WithConfig(s3test.Use(s3cfg)))
	r = gone.Call(http.MethodGet, "/api/v1/health", nil)
	r.JSON(t, &h)
	if r.StatusCode != http.StatusServiceUnavailable || h.Checks.Storage.Status != api.HealthCheckStatusError ||
		h.Checks.Database.Status != api.HealthCheckStatusOk {
		t.Fatalf("health without the bucket: %d %s", r.StatusCode, r.Body)
	}
	if !strings.Contains(gone.Logs.String(), `"check":"storage"`) {
		t.Error("the failed check was not logged")
	}
}
