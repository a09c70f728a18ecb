package files_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/files"
	"assistant/server/testutil/apitest"
)

// streamedUpload is an upload whose file bytes the test writes as it goes, so that it
// knows exactly how much of the body the server can have seen when it answers.
type streamedUpload struct {
	content *io.PipeWriter
	sent    int64 // bytes of the body the test has let through
	head    int64
	req     *http.Request
	done    chan uploadResult
}

type uploadResult struct {
	resp *http.Response
	body []byte
	err  error
}

// startUpload sends a multipart upload with one part whose headers are partHeader; its
// content is what the test writes with send. declared, when positive, is sent as the
// request's Content-Length (otherwise the body is chunked, of no declared size).
func startUpload(t *testing.T, env *apitest.Env, token string, partHeader textproto.MIMEHeader, declared int64) *streamedUpload {
	t.Helper()
	pr, pw := io.Pipe()
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreatePart(partHeader); err != nil {
		t.Fatal(err)
	}
	u := &streamedUpload{content: pw, head: int64(head.Len()), done: make(chan uploadResult, 1)}
	body := io.MultiReader(&head, pr, strings.NewReader("\r\n--"+mw.Boundary()+"--\r\n"))
	u.req = env.Request(http.MethodPost, "/api/v1/files", body)
	u.req.Header.Set("Content-Type", mw.FormDataContentType())
	u.req.Header.Set("Authorization", "Bearer "+token)
	if declared > 0 {
		u.req.ContentLength = declared
	}
	go func() {
		resp, err := env.Client.Do(u.req)
		res := uploadResult{resp: resp, err: err}
		if err == nil {
			res.body, res.err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		u.done <- res
	}()
	t.Cleanup(func() { pw.CloseWithError(errors.New("the test is over")) })
	return u
}

func fileHeader(name string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", "application/octet-stream")
	return h
}

// send lets n more bytes of the file through (it returns once the client has taken them).
func (u *streamedUpload) send(t *testing.T, n int) {
	t.Helper()
	if _, err := u.content.Write(bytes.Repeat([]byte("q"), n)); err != nil {
		t.Fatal(err)
	}
	u.sent += int64(n)
}

// finish ends the file (the closing boundary follows) and returns the answer.
func (u *streamedUpload) finish(t *testing.T, env *apitest.Env) *apitest.Response {
	t.Helper()
	u.content.Close()
	return u.answer(t, env)
}

// answer waits for the answer, checked against the spec, without ending the body.
func (u *streamedUpload) answer(t *testing.T, env *apitest.Env) *apitest.Response {
	t.Helper()
	var res uploadResult
	select {
	case res = <-u.done:
	case <-time.After(time.Minute): // only so that a server that never answers fails the test
		t.Fatal("no answer to the upload")
	}
	if res.err != nil {
		t.Fatalf("upload: %v", res.err)
	}
	r := &apitest.Response{Response: res.resp, Body: res.body}
	env.Check(u.req, r)
	return r
}

// waitFor polls until cond holds; the deadline only keeps a broken server from hanging
// the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantQuotaExceeded(t *testing.T, what string, r *apitest.Response) {
	t.Helper()
	if r.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeQuotaExceeded {
		t.Fatalf("%s: %d %s, want 429 quota_exceeded", what, r.StatusCode, r.Body)
	}
	if ra := r.Header.Get("Retry-After"); ra != "" {
		t.Errorf("%s: Retry-After %q on a storage quota (it frees up only when something is deleted)", what, ra)
	}
}

// An upload whose declared size cannot fit what is left of the quota is refused before
// its body is read: the server answers while the client has sent only a sliver of it.
func TestUploadDeclaredOverTheQuotaIsRefusedBeforeItsBody(t *testing.T) {
	t.Parallel()
	const quota = 100_000
	env, token := setup(t, func(c *config.Config) { c.MaxUploadBytes = 8 << 20; c.UserStorageQuotaBytes = quota })

	// The request's Content-Length: the file part alone cannot fit even after the
	// envelope's allowance.
	declared := int64(quota + files.Envelope + 1<<20)
	u := startUpload(t, env, token, fileHeader("big.txt"), declared)
	u.send(t, 1000)
	r := u.answer(t, env)
	wantQuotaExceeded(t, "declared size over the quota", r)
	if u.head+u.sent >= declared/100 {
		t.Fatalf("the client had sent %d of %d bytes", u.head+u.sent, declared)
	}

	// A part that states its own size is held to it before its content is read (the
	// request itself is chunked here).
	h := fileHeader("big.txt")
	h.Set("Content-Length", fmt.Sprint(quota+1))
	u = startUpload(t, env, token, h, 0)
	wantQuotaExceeded(t, "the part's own size over the quota", u.answer(t, env))
	if u.sent != 0 {
		t.Fatalf("sent %d bytes of the file", u.sent)
	}

	// A file of exactly the quota is not refused for its envelope: it fits and is stored.
	small := env.Upload(token, "fits.txt", bytes.Repeat([]byte("f"), quota))
	if small.StatusCode != http.StatusCreated {
		t.Fatalf("a file exactly the quota: %d %s", small.StatusCode, small.Body)
	}
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 1 || rows(t, env) != 1 {
		t.Errorf("after the refusals: disk %v, %d rows", got, rows(t, env))
	}
}

// A chunked upload says nothing of its size: it is cut off the moment it crosses what is
// left of the quota, answered while the client is still sending, and leaves nothing.
func TestUndeclaredUploadIsCutOffAtTheQuota(t *testing.T) {
	t.Parallel()
	env, token := setup(t, func(c *config.Config) { c.MaxUploadBytes = 8 << 20; c.UserStorageQuotaBytes = 5000 })
	if r := env.Upload(token, "first.txt", bytes.Repeat([]byte("a"), 3000)); r.StatusCode != http.StatusCreated {
		t.Fatalf("first: %d %s", r.StatusCode, r.Body)
	}
	u := startUpload(t, env, token, fileHeader("endless.txt"), 0)
	// The client would go on for ever; the server stops reading after 2001 bytes.
	go func() {
		chunk := bytes.Repeat([]byte("z"), 4096)
		for {
			if _, err := u.content.Write(chunk); err != nil {
				return
			}
		}
	}()
	wantQuotaExceeded(t, "an endless upload", u.answer(t, env))
	u.content.CloseWithError(errors.New("client stops"))
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 1 || rows(t, env) != 1 {
		t.Fatalf("after the cut-off upload: disk %v, %d rows", got, rows(t, env))
	}
	// What is left still takes a file that fits exactly.
	if r := env.Upload(token, "rest.txt", bytes.Repeat([]byte("r"), 2000)); r.StatusCode != http.StatusCreated {
		t.Fatalf("a file of exactly what is left: %d %s", r.StatusCode, r.Body)
	}
}

// Two uploads that each fit what is left, but not together, run at once: exactly one is
// stored; the other is refused and leaves nothing.
func TestConcurrentUploadsCannotTogetherCrossTheQuota(t *testing.T) {
	t.Parallel()
	env, token := setup(t, func(c *config.Config) { c.UserStorageQuotaBytes = 1000 })
	a := startUpload(t, env, token, fileHeader("a.txt"), 0)
	b := startUpload(t, env, token, fileHeader("b.txt"), 0)
	a.send(t, 600)
	b.send(t, 600)
	// Both are past the check before streaming and writing their bytes (each file's
	// unfinished blob is on disk) before either ends.
	waitFor(t, "both uploads to stream", func() bool { return len(storedFiles(t, env.Config.UploadDir)) == 2 })
	ra, rb := a.finish(t, env), b.finish(t, env)
	statuses := []int{ra.StatusCode, rb.StatusCode}
	refused := ra
	if ra.StatusCode == http.StatusCreated {
		refused = rb
	}
	if (ra.StatusCode == http.StatusCreated) == (rb.StatusCode == http.StatusCreated) {
		t.Fatalf("two uploads of 600 bytes under a quota of 1000: %v, want exactly one 201", statuses)
	}
	wantQuotaExceeded(t, "the second of two concurrent uploads", refused)
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 1 || rows(t, env) != 1 {
		t.Fatalf("after the race: disk %v, %d rows", got, rows(t, env))
	}
}

// A user has at most UPLOADS_PER_USER uploads in progress; one more is 429 rate_limited
// with Retry-After, before its body is read. Another user is not held up.
func TestUploadsPerUserAreCapped(t *testing.T) {
	t.Parallel()
	env, token := setup(t, func(c *config.Config) { c.UploadsPerUser = 2 })
	a := startUpload(t, env, token, fileHeader("a.txt"), 0)
	b := startUpload(t, env, token, fileHeader("b.txt"), 0)
	a.send(t, 600)
	b.send(t, 600)
	waitFor(t, "both uploads to stream", func() bool { return len(storedFiles(t, env.Config.UploadDir)) == 2 })

	third := startUpload(t, env, token, fileHeader("c.txt"), 0)
	r := third.answer(t, env)
	if r.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeRateLimited || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a third upload at once: %d %v %s", r.StatusCode, r.Header, r.Body)
	}
	other := env.Register("bob@example.com", "correct horse battery").AccessToken
	if r := env.Upload(other, "bob.txt", []byte("bob's")); r.StatusCode != http.StatusCreated {
		t.Errorf("another user's upload meanwhile: %d %s", r.StatusCode, r.Body)
	}

	for _, u := range []*streamedUpload{a, b} {
		if r := u.finish(t, env); r.StatusCode != http.StatusCreated {
			t.Fatalf("an upload within the cap: %d %s", r.StatusCode, r.Body)
		}
	}
	// Done uploads free their places.
	if r := env.Upload(token, "d.txt", []byte("later")); r.StatusCode != http.StatusCreated {
		t.Fatalf("an upload after the others ended: %d %s", r.StatusCode, r.Body)
	}
	if rows(t, env) != 4 {
		t.Errorf("%d rows, want 4", rows(t, env))
	}
}

// An export made while an upload streams counts when the upload is recorded: the upload
// fitted when it began, but not any more, so it is refused and leaves nothing.
func TestUploadCountsAnExportMadeWhileItStreamed(t *testing.T) {
	t.Parallel()
	const quota = 3000
	env, token := setup(t, func(c *config.Config) { c.MaxUploadBytes = quota; c.UserStorageQuotaBytes = quota })
	var conv api.Conversation
	env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "notes"}).JSON(t, &conv)
	export := func() int64 {
		t.Helper()
		r := env.As(token, http.MethodPost, "/api/v1/conversations/"+conv.Id.String()+"/exports", map[string]any{"format": "markdown"})
		var e api.Export
		r.JSON(t, &e)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("export: %d %s", r.StatusCode, r.Body)
		}
		return e.SizeBytes
	}
	size := export()

	u := startUpload(t, env, token, fileHeader("u.txt"), 0)
	u.send(t, int(quota-2*size+1)) // fits beside one export, not two
	waitFor(t, "the upload to stream", func() bool { return len(storedFiles(t, env.Config.UploadDir)) == 1 })
	if again := export(); again != size {
		t.Fatalf("the second export is %d bytes, the first %d", again, size)
	}
	wantQuotaExceeded(t, "an upload that an export overtook", u.finish(t, env))
	if got := storedFiles(t, env.Config.UploadDir); len(got) != 0 || rows(t, env) != 0 {
		t.Fatalf("after the refused upload: disk %v, %d rows", got, rows(t, env))
	}
}
