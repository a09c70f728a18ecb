package files_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/files"
	"assistant/server/testutil/apitest"
)

const limit = 1000

func setup(t *testing.T, cfg ...func(*config.Config)) (*apitest.Env, string) {
	t.Helper()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) {
		c.MaxUploadBytes = limit
		c.UserStorageQuotaBytes = 10 * limit
	}), apitest.WithConfig(cfg...))
	return env, env.Register("ada@example.com", "correct horse battery").AccessToken
}

var pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

// storedFiles lists what is on disk under the upload directory.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func rows(t *testing.T, env *apitest.Env) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(t.Context(), "SELECT count(*) FROM files").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUploadLimitIsExact(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	ok := env.Upload(token, "exact.txt", bytes.Repeat([]byte("a"), limit))
	var f api.File
	ok.JSON(t, &f)
	sum := sha256.Sum256(bytes.Repeat([]byte("a"), limit))
	if ok.StatusCode != http.StatusCreated || f.SizeBytes != limit || f.Sha256 != hex.EncodeToString(sum[:]) || f.ContentType != "text/plain" {
		t.Fatalf("exactly the limit: %d %s", ok.StatusCode, ok.Body)
	}
	over := env.Upload(token, "over.txt", bytes.Repeat([]byte("a"), limit+1))
	e := over.Envelope(t)
	if over.StatusCode != http.StatusRequestEntityTooLarge || e.Code != api.ErrorBodyCodePayloadTooLarge ||
		e.Details == nil || !strings.Contains((*e.Details)[0].Message, fmt.Sprint(limit)) {
		t.Fatalf("one byte over: %d %s", over.StatusCode, over.Body)
	}
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 1 || rows(t, env) != 1 {
		t.Errorf("after a refused upload: disk %v, %d rows", got, rows(t, env))
	}
}

func TestUploadTypesComeFromTheContent(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	cases := []struct {
		name    string
		content []byte
		status  int
		ctype   string
	}{
		{"notes.md", []byte("# Notes\n\n- one"), 201, "text/markdown"},
		{"table.csv", []byte("a,b\n1,2\n"), 201, "text/csv"},
		{"data.json", []byte(`{"a":1}`), 201, "application/json"},
		{"plain", []byte("hello"), 201, "text/plain"},
		{"photo.png", pngHead, 201, "image/png"},
		{"doc.pdf", []byte("%PDF-1.4\n%âãÏÓ\n"), 201, "application/pdf"},
		{"photo.jpg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), 201, "image/jpeg"},
		{"evil.png", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), 415, ""},
		{"tool.exe", []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), 415, ""},
		{"archive.txt", []byte("PK\x03\x04\x14\x00\x00\x00"), 415, ""},
	}
	for _, c := range cases {
		r := env.Upload(token, c.name, c.content)
		if r.StatusCode != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, r.StatusCode, c.status, r.Body)
			continue
		}
		if c.status == 201 {
			var f api.File
			r.JSON(t, &f)
			if f.ContentType != c.ctype {
				t.Errorf("%s: type %q, want %q", c.name, f.ContentType, c.ctype)
			}
		} else if r.Envelope(t).Code != api.ErrorBodyCodeUnsupportedMediaType {
			t.Errorf("%s: %s", c.name, r.Body)
		}
	}
}

// Client filenames are metadata: cleaned, never a path. Nothing lands outside the
// upload directory, whatever the name says.
func TestFilenamesAreCleaned(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	long := strings.Repeat("é", 300) + ".txt"
	cases := []struct{ disposition, want string }{
		{`form-data; name="file"; filename="../../etc/passwd"`, "passwd"},
		{`form-data; name="file"; filename="..\\..\\windows\\win.ini"`, "win.ini"},
		{`form-data; name="file"; filename*=UTF-8''a%00b%0A%0Dc.txt`, "abc.txt"},
		{`form-data; name="file"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%202026.txt`, "отчёт 2026.txt"},
		{`form-data; name="file"; filename=".."`, "file"},
		{`form-data; name="file"`, "file"},
		{fmt.Sprintf(`form-data; name="file"; filename=%q`, long), ""},
	}
	for _, c := range cases {
		body, ct := apitest.Multipart(c.disposition, strings.NewReader("content"))
		req := env.Request(http.MethodPost, "/api/v1/files", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		r := env.Do(req)
		var f api.File
		r.JSON(t, &f)
		if r.StatusCode != http.StatusCreated {
			t.Errorf("%s: %d %s", c.disposition, r.StatusCode, r.Body)
			continue
		}
		if c.want != "" && f.Filename != c.want {
			t.Errorf("%s: filename %q, want %q", c.disposition, f.Filename, c.want)
		}
		if c.want == "" && (len(f.Filename) > 255 || !strings.HasPrefix(f.Filename, "éé")) {
			t.Errorf("long name kept as %d bytes", len(f.Filename))
		}
		// The download names it safely.
		d := env.As(token, http.MethodGet, "/api/v1/files/"+f.Id.String()+"/content", nil)
		if cd := d.Header.Get("Content-Disposition"); strings.ContainsAny(cd, "\r\n\x00") || !strings.HasPrefix(cd, "attachment; ") {
			t.Errorf("Content-Disposition %q", cd)
		}
	}
	for _, p := range storedFiles(t, env.Config.UploadDir) {
		if strings.Contains(p, "..") || strings.Count(p, string(os.PathSeparator)) != 1 {
			t.Errorf("stored at %q", p)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(env.Config.UploadDir), "passwd")); err == nil {
		t.Error("a file escaped the upload directory")
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	env, token := setup(t, func(c *config.Config) { c.UserStorageQuotaBytes = 1500 })
	if r := env.Upload(token, "a.txt", bytes.Repeat([]byte("a"), 1000)); r.StatusCode != http.StatusCreated {
		t.Fatalf("first: %d", r.StatusCode)
	}
	r := env.Upload(token, "b.txt", bytes.Repeat([]byte("b"), 600))
	e := r.Envelope(t)
	if r.StatusCode != http.StatusTooManyRequests || e.Code != api.ErrorBodyCodeQuotaExceeded || !strings.Contains(e.Message, "quota") ||
		r.Header.Get("Retry-After") != "" {
		t.Fatalf("over quota: %d %v %s", r.StatusCode, r.Header, r.Body)
	}
	if rows(t, env) != 1 || len(storedFiles(t, env.Config.UploadDir)) != 1 {
		t.Error("the refused file was kept")
	}
	// Another user has a quota of their own.
	other := env.Register("bob@example.com", "correct horse battery").AccessToken
	if r := env.Upload(other, "c.txt", bytes.Repeat([]byte("c"), 1000)); r.StatusCode != http.StatusCreated {
		t.Errorf("another user's upload: %d", r.StatusCode)
	}
}

// An upload the client abandons half-way leaves neither bytes nor a row.
func TestAbortedUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	env, token := setup(t, func(c *config.Config) { c.MaxUploadBytes = 10 << 20 })
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
	// The write is its own goroutine: should the server answer before reading the body, the
	// test closes the pipe instead of waiting on it forever.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if _, err := pw.Write(bytes.Repeat([]byte("x"), 1<<20)); err == nil {
			time.Sleep(100 * time.Millisecond)
		}
		pw.CloseWithError(fmt.Errorf("client gave up"))
	}()
	<-done
	_ = pr.CloseWithError(fmt.Errorf("the request is over"))
	<-wrote
	deadline := time.Now().Add(5 * time.Second)
	for len(storedFiles(t, env.Config.UploadDir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 0 || rows(t, env) != 0 {
		t.Fatalf("after an aborted upload: disk %v, %d rows", got, rows(t, env))
	}
}

// zeros is a reader of n bytes that allocates nothing.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	for i := range p[:k] {
		p[i] = 'z'
	}
	z.n -= k
	return int(k), nil
}

// The upload is streamed: a file much larger than the JSON body limit does not grow the
// heap by its size.
func TestUploadMemoryStaysFlat(t *testing.T) {
	const size = 64 << 20
	env, token := setup(t, func(c *config.Config) { c.MaxUploadBytes = size; c.UserStorageQuotaBytes = 2 * size })
	body, ct := apitest.Multipart(`form-data; name="file"; filename="big.txt"`, &zeros{n: size})
	req := env.Request(http.MethodPost, "/api/v1/files", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := env.Do(req)
	runtime.ReadMemStats(&after)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.StatusCode, r.Body)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	if allocated > size/4 {
		t.Fatalf("a %d MiB upload allocated %d MiB", size>>20, allocated>>20)
	}
	t.Logf("a %d MiB upload allocated %.1f MiB in the test process (client and server)", size>>20, float64(allocated)/(1<<20))
}

func TestDownload(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	content := []byte("hello, download")
	up := env.Upload(token, "naïve \"report\".txt", content)
	var f api.File
	up.JSON(t, &f)
	path := "/api/v1/files/" + f.Id.String() + "/content"

	r := env.As(token, http.MethodGet, path, nil)
	h := r.Header
	if r.StatusCode != http.StatusOK || !bytes.Equal(r.Body, content) {
		t.Fatalf("download: %d %q", r.StatusCode, r.Body)
	}
	want := `attachment; filename="na_ve _report_.txt"; filename*=UTF-8''na%C3%AFve%20%22report%22.txt`
	if h.Get("Content-Type") != "text/plain" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("ETag") != `"`+f.Sha256+`"` || h.Get("Content-Disposition") != want || h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers: %v", h)
	}

	req := env.Request(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Range", "bytes=7-14")
	part := env.Do(req)
	if part.StatusCode != http.StatusPartialContent || string(part.Body) != "download" ||
		part.Header.Get("Content-Range") != fmt.Sprintf("bytes 7-14/%d", len(content)) {
		t.Errorf("range: %d %q %v", part.StatusCode, part.Body, part.Header)
	}

	req = env.Request(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("If-None-Match", h.Get("ETag"))
	if nm := env.Do(req); nm.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", nm.StatusCode)
	}

	// Unsatisfiable ranges, "the last 0 bytes" among them (ServeContent answered it with a
	// 206 and a backwards Content-Range), are a 416 saying the content's length.
	for _, rng := range []string{"bytes=500-600", "bytes=-0", "bytes=0-1,-000", "bytes=9-3"} {
		req = env.Request(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Range", rng)
		bad := env.Do(req)
		if bad.StatusCode != http.StatusRequestedRangeNotSatisfiable || bad.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(content)) {
			t.Errorf("range %q: %d %v %s", rng, bad.StatusCode, bad.Header, bad.Body)
		}
	}

	meta := env.As(token, http.MethodGet, "/api/v1/files/"+f.Id.String(), nil)
	var m api.File
	meta.JSON(t, &m)
	sameZone := cmp.Comparer(func(a, b time.Time) bool { return a == b }) // the instant and its offset
	if diff := cmp.Diff(f, m, sameZone); diff != "" {
		t.Errorf("metadata differs from the upload's answer (-upload +metadata):\n%s", diff)
	}
}

func TestDeleteAndOwnership(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	eve := env.Register("eve@example.com", "correct horse battery").AccessToken
	up := env.Upload(token, "secret.txt", []byte("secret"))
	var f api.File
	up.JSON(t, &f)
	base := "/api/v1/files/" + f.Id.String()
	for _, c := range []struct{ method, path string }{{"GET", base}, {"GET", base + "/content"}, {"DELETE", base}} {
		if r := env.As(eve, c.method, c.path, nil); r.StatusCode != http.StatusNotFound || strings.Contains(string(r.Body), "secret") {
			t.Errorf("eve %s %s: %d", c.method, c.path, r.StatusCode)
		}
	}
	var l api.FileList
	env.As(eve, http.MethodGet, "/api/v1/files", nil).JSON(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("eve lists %d files", len(l.Items))
	}
	if r := env.As(token, http.MethodDelete, base, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 0 {
		t.Errorf("bytes left on disk: %v", got)
	}
	if r := env.As(token, http.MethodGet, base, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("after delete: %d", r.StatusCode)
	}
}

func TestUploadBadInput(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	send := func(ct string, body io.Reader) *apitest.Response {
		req := env.Request(http.MethodPost, "/api/v1/files", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		return env.Do(req)
	}
	if r := send("application/json", strings.NewReader(`{"file":"x"}`)); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON upload: %d %s", r.StatusCode, r.Body)
	}
	body, ct := apitest.Multipart(`form-data; name="other"`, strings.NewReader("x"))
	if r := send(ct, body); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("no file part: %d %s", r.StatusCode, r.Body)
	}
	if r := send("multipart/form-data; boundary=zzz", strings.NewReader("garbage")); r.StatusCode != http.StatusBadRequest {
		t.Errorf("broken multipart: %d %s", r.StatusCode, r.Body)
	}
	if r := send("multipart/form-data", strings.NewReader("garbage")); r.StatusCode != http.StatusBadRequest {
		t.Errorf("multipart without boundary: %d %s", r.StatusCode, r.Body)
	}
	two := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\naaa\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.txt\"\r\n\r\nbbb\r\n--b--\r\n"
	if r := send("multipart/form-data; boundary=b", strings.NewReader(two)); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("two files: %d %s", r.StatusCode, r.Body)
	}
	if rows(t, env) != 0 || len(storedFiles(t, env.Config.UploadDir)) != 0 {
		t.Error("a refused upload was kept")
	}
	body, ct = apitest.Multipart(`form-data; name="file"; filename="a.txt"`, strings.NewReader("x"))
	req := env.Request(http.MethodPost, "/api/v1/files", body)
	req.Header.Set("Content-Type", ct)
	if r := env.Do(req); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("upload without a token: %d", r.StatusCode)
	}
	if r := env.As(token, http.MethodGet, "/api/v1/files/nope", nil); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad id: %d", r.StatusCode)
	}
}

func TestAccountDeletionRemovesFiles(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	env.Upload(token, "a.txt", []byte("a"))
	other := env.Register("bob@example.com", "correct horse battery").AccessToken
	env.Upload(other, "b.txt", []byte("b"))
	if r := env.As(token, http.MethodDelete, "/api/v1/users/me", nil); r.StatusCode != http.StatusNoContent {
		t.Fatal(r.StatusCode)
	}
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 1 || rows(t, env) != 1 {
		t.Errorf("after deleting one account: disk %v, %d rows", got, rows(t, env))
	}
}

func TestCleanFilename(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a/b/c.txt": "c.txt", `a\b\c.txt`: "c.txt", "  x  ": "x", "\x00": "file", "ok\u200b.txt": "ok\u200b.txt",
		"bad\xffutf8.txt": "badutf8.txt", "tab\there": "tabhere",
	} {
		if got := files.CleanFilename(in); got != want {
			t.Errorf("CleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

// The start-up sweep removes bytes a crash left without a row (old enough not to belong to
// an upload in progress) and reports rows whose bytes are missing.
func TestSweep(t *testing.T) {
	t.Parallel()
	env, token := setup(t)
	kept := env.Upload(token, "kept.txt", []byte("kept"))
	gone := env.Upload(token, "gone.txt", []byte("gone"))
	var k, g api.File
	kept.JSON(t, &k)
	gone.JSON(t, &g)
	dir := env.Config.UploadDir
	var userDir string
	for _, p := range storedFiles(t, dir) {
		userDir = filepath.Dir(p)
	}
	orphan := filepath.Join(dir, userDir, "0190a0a0-0000-7000-8000-000000000000")
	fresh := filepath.Join(dir, userDir, "0190a0a0-0000-7000-8000-000000000001")
	unfinished := filepath.Join(dir, userDir, ".tmp-0123456789abcdef")
	for _, p := range []string{orphan, fresh, unfinished} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	_ = os.Chtimes(orphan, old, old)
	_ = os.Chtimes(unfinished, old, old)
	if err := os.Remove(filepath.Join(dir, userDir, g.Id.String())); err != nil {
		t.Fatal(err)
	}

	if err := env.App.Files.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(storedFiles(t, dir), " ")
	if strings.Contains(got, "000000000000") || strings.Contains(got, ".tmp-") || !strings.Contains(got, k.Id.String()) || !strings.Contains(got, "000000000001") {
		t.Errorf("after the sweep: %s", got)
	}
	if !strings.Contains(env.Logs.String(), `"msg":"a file's bytes are missing","file_id":"`+g.Id.String()) {
		t.Errorf("missing bytes not reported:\n%s", env.Logs.String())
	}
}
