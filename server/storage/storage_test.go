package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"assistant/server/storage"
	"assistant/server/testutil/s3test"
)

// backends are the stores the suite runs on: the local disk and a real S3 server.
var backends = []struct {
	name string
	new  func(t *testing.T) storage.Store
}{
	{"local", func(t *testing.T) storage.Store {
		s, err := storage.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"s3", func(t *testing.T) storage.Store {
		cfg := s3test.Config(t)
		cfg.PartSize = 5 << 20 // S3's smallest: a few MiB cross several parts
		s, err := storage.NewS3(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s.Sub("uploads")
	}},
}

// each runs the test on every backend.
func each(t *testing.T, test func(t *testing.T, s storage.Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b.new(t))
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func put(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	b, err := s.Create(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes cross the part boundaries at every offset.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 777_777)
		if _, err := b.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	f, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != int64(len(got)) {
		t.Errorf("Size() = %d, read %d bytes", f.Size(), len(got))
	}
	return got
}

func keys(t *testing.T, s storage.Store) []string {
	t.Helper()
	var out []string
	if err := s.Walk(t.Context(), func(key string) error { out = append(out, key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func missing(t *testing.T, s storage.Store, key string) {
	t.Helper()
	f, err := s.Open(t.Context(), key)
	if err == nil {
		f.Close()
		t.Fatalf("%s is there", key)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(%s) = %v, want fs.ErrNotExist", key, err)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 5 << 20, 12<<20 + 3} {
		each(t, func(t *testing.T, s storage.Store) {
			data := randomBytes(size)
			before := time.Now().Add(-time.Minute)
			put(t, s, "u1/f1", data)
			if !bytes.Equal(read(t, s, "u1/f1"), data) {
				t.Fatalf("the %d bytes read back differ", size)
			}
			f, err := s.Open(t.Context(), "u1/f1")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.ModTime().Before(before) || f.ModTime().After(time.Now().Add(time.Minute)) {
				t.Errorf("ModTime() = %v, not about now", f.ModTime())
			}
		})
	}
}

// Nothing is visible under the key before Commit; an abort leaves nothing, not even an
// incomplete multipart upload (checked by s3test when the test ends).
func TestUncommittedIsInvisibleAndAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		b, err := s.Create(t.Context(), "u1/f1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(randomBytes(11 << 20)); err != nil { // two parts sent on S3
			t.Fatal(err)
		}
		missing(t, s, "u1/f1")
		if diff := cmp.Diff([]string(nil), keys(t, s)); diff != "" {
			t.Errorf("Walk before Commit (-want +got):\n%s", diff)
		}
		b.Abort()
		b.Abort() // twice is harmless
		missing(t, s, "u1/f1")
		if err := b.Commit(); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		if s3, ok := s.(*storage.S3); ok {
			left, err := s3.Incomplete(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 0 {
				t.Errorf("incomplete uploads after Abort: %v", left)
			}
		}
	})
}

// A client that goes away mid-upload cancels the request's context: writing fails, and the
// abort that follows still runs.
func TestCancelledUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		b, err := s.Create(ctx, "u1/f1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(randomBytes(6 << 20)); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, _ = b.Write(randomBytes(6 << 20)) // fails on S3 (the part cannot be sent); the disk does not care
		b.Abort()
		missing(t, s, "u1/f1")
		if s3, ok := s.(*storage.S3); ok {
			left, err := s3.Incomplete(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 0 {
				t.Errorf("incomplete uploads after a cancelled upload: %v", left)
			}
		}
	})
}

func TestAbortAfterCommitKeepsTheBlob(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		b, err := s.Create(t.Context(), "u1/f1")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = b.Write([]byte("hello"))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		b.Abort()
		if diff := cmp.Diff("hello", string(read(t, s, "u1/f1"))); diff != "" {
			t.Error(diff)
		}
	})
}

// Seek and Read, as http.ServeContent uses them for Range, and ReadAt, as the PDF reader
// does, read the right bytes anywhere, across part and block boundaries.
func TestSeekAndReadAt(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		data := randomBytes(11<<20 + 123)
		put(t, s, "u1/f1", data)
		f, err := s.Open(t.Context(), "u1/f1")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		size := int64(len(data))
		for _, r := range [][2]int64{{0, 10}, {5<<20 - 3, 7}, {size - 1, 1}, {100, 64 << 10}, {3, 2 << 20}, {size - 5, 5}, {0, size}} {
			if pos, err := f.Seek(r[0], io.SeekStart); err != nil || pos != r[0] {
				t.Fatalf("Seek(%d) = %d, %v", r[0], pos, err)
			}
			got := make([]byte, r[1])
			if _, err := io.ReadFull(f, got); err != nil {
				t.Fatalf("read %d at %d: %v", r[1], r[0], err)
			}
			if !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Errorf("read %d at %d: wrong bytes", r[1], r[0])
			}
		}
		if end, err := f.Seek(0, io.SeekEnd); err != nil || end != size {
			t.Fatalf("Seek(0, End) = %d, %v", end, err)
		}
		if n, err := f.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("Read at the end = %d, %v; want 0, EOF", n, err)
		}
		if _, err := f.Seek(-1, io.SeekStart); err == nil {
			t.Error("Seek to -1 succeeded")
		}
		ra, ok := f.(io.ReaderAt)
		if !ok {
			t.Fatal("the file is no io.ReaderAt")
		}
		for _, r := range [][2]int64{{0, 1}, {64<<10 - 1, 2}, {5 << 20, 200 << 10}, {size - 10, 10}, {1 << 20, 1}} {
			got := make([]byte, r[1])
			if n, err := ra.ReadAt(got, r[0]); n != len(got) || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt %d at %d = %d, %v", r[1], r[0], n, err)
			}
			if !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Errorf("ReadAt %d at %d: wrong bytes", r[1], r[0])
			}
		}
		if n, err := ra.ReadAt(make([]byte, 20), size-10); n != 10 || err != io.EOF {
			t.Errorf("ReadAt across the end = %d, %v; want 10, EOF", n, err)
		}
	})
}

// http.ServeContent over a stored file answers ranges and validators, as downloads do.
func TestServeContent(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		data := randomBytes(6 << 20)
		put(t, s, "u1/f1", data)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := s.Open(r.Context(), "u1/f1")
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			defer f.Close()
			w.Header().Set("ETag", `"x"`)
			http.ServeContent(w, r, "", f.ModTime(), f)
		}))
		defer srv.Close()
		get := func(header, value string) (int, []byte) {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if header != "" {
				req.Header.Set(header, value)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			return res.StatusCode, b
		}
		if code, b := get("", ""); code != 200 || !bytes.Equal(b, data) {
			t.Errorf("GET: %d, %d bytes", code, len(b))
		}
		if code, b := get("Range", "bytes=5242870-5242889"); code != 206 || !bytes.Equal(b, data[5242870:5242890]) {
			t.Errorf("GET a range: %d, %q", code, b)
		}
		if code, b := get("Range", "bytes=-4"); code != 206 || !bytes.Equal(b, data[len(data)-4:]) {
			t.Errorf("GET a suffix: %d, %q", code, b)
		}
		if code, b := get("Range", "bytes=0-0,10-12"); code != 206 || !bytes.Contains(b, data[10:13]) {
			t.Errorf("GET two ranges: %d", code)
		}
		if code, _ := get("Range", "bytes=99999999-"); code != 416 {
			t.Errorf("GET past the end: %d, want 416", code)
		}
		if code, b := get("If-None-Match", `"x"`); code != 304 || len(b) != 0 {
			t.Errorf("GET If-None-Match: %d, %d bytes", code, len(b))
		}
	})
}

func TestDeleteAndDeletePrefix(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		put(t, s, "u1/a", []byte("a"))
		put(t, s, "u1/b", []byte("b"))
		put(t, s, "u10/c", []byte("c")) // shares the text "u1" but not the prefix "u1/"
		put(t, s, "u2/d", []byte("d"))
		if err := s.Delete(t.Context(), "u1/a"); err != nil {
			t.Fatal(err)
		}
		missing(t, s, "u1/a")
		if err := s.Delete(t.Context(), "u1/a"); err != nil {
			t.Errorf("deleting a missing blob: %v", err)
		}
		// An upload of the user still running when the account goes is aborted with it.
		b, err := s.Create(t.Context(), "u1/e")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(randomBytes(6 << 20)); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePrefix(t.Context(), "u1"); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"u10/c", "u2/d"}, keys(t, s)); diff != "" {
			t.Errorf("after DeletePrefix(u1) (-want +got):\n%s", diff)
		}
		b.Abort()
		if err := s.DeletePrefix(t.Context(), "nobody"); err != nil {
			t.Errorf("DeletePrefix of nothing: %v", err)
		}
	})
}

// Keys and prefixes are made by the server; anything else is refused before it reaches the
// disk or the bucket.
func TestHostileKeys(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		put(t, s, "u1/f1", []byte("x"))
		for _, key := range []string{"", "u1", "u1/", "/f1", "../u1/f1", "u1/../f1", "u1/f1/x", "u1/.tmp-x", ".u1/f1", "u1/.", "u1/..", "u1//f1"} {
			if _, err := s.Create(t.Context(), key); err == nil {
				t.Errorf("Create(%q) succeeded", key)
			}
			if f, err := s.Open(t.Context(), key); err == nil {
				f.Close()
				t.Errorf("Open(%q) succeeded", key)
			}
			if err := s.Delete(t.Context(), key); err == nil {
				t.Errorf("Delete(%q) succeeded", key)
			}
		}
		for _, prefix := range []string{"", ".", "..", "u1/f1", "u1/", "/", "../x"} {
			if err := s.DeletePrefix(t.Context(), prefix); err == nil {
				t.Errorf("DeletePrefix(%q) succeeded", prefix)
			}
		}
		if diff := cmp.Diff([]string{"u1/f1"}, keys(t, s)); diff != "" {
			t.Errorf("after the refusals (-want +got):\n%s", diff)
		}
	})
}

// The start-up sweep removes committed blobs without a row and what a crash left unfinished,
// and keeps the rest.
func TestSweepOrphans(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		put(t, s, "u1/kept", []byte("k"))
		put(t, s, "u1/orphan", []byte("o"))
		crashed, err := s.Create(t.Context(), "u1/crashed")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := crashed.Write(randomBytes(6 << 20)); err != nil { // a multipart upload started
			t.Fatal(err)
		}
		// A crash never aborts: the unfinished blob is found by age.
		n, err := s.CleanUnfinished(t.Context(), time.Hour)
		if err != nil || n != 0 {
			t.Fatalf("CleanUnfinished(1h) of a new blob = %d, %v; want 0", n, err)
		}
		n, err = s.CleanUnfinished(t.Context(), -1)
		if err != nil || n != 1 {
			t.Fatalf("CleanUnfinished = %d, %v; want 1", n, err)
		}
		removed, err := storage.SweepOrphans(t.Context(), s, func(_ context.Context, key string) (bool, error) {
			return key == "u1/kept", nil
		}, 0)
		if err != nil || removed != 1 {
			t.Fatalf("SweepOrphans = %d, %v; want 1", removed, err)
		}
		if diff := cmp.Diff([]string{"u1/kept"}, keys(t, s)); diff != "" {
			t.Errorf("after the sweep (-want +got):\n%s", diff)
		}
		// Young orphans may be an upload committing on another replica right now.
		put(t, s, "u1/young", []byte("y"))
		removed, err = storage.SweepOrphans(t.Context(), s, func(context.Context, string) (bool, error) { return false, nil }, time.Hour)
		if err != nil || removed != 0 {
			t.Fatalf("SweepOrphans of young blobs = %d, %v; want 0", removed, err)
		}
		crashed.Abort()
	})
}

func TestCheck(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s storage.Store) {
		if err := s.Check(t.Context()); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
}

// A bucket that does not exist, and a server that does not answer, fail the check.
func TestS3CheckFails(t *testing.T) {
	t.Parallel()
	cfg := s3test.Config(t)
	cfg.Bucket = "no-such-bucket-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	s, err := storage.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(t.Context()); err == nil {
		t.Error("Check of a missing bucket succeeded")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cfg.Endpoint = srv.URL
	s, err = storage.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(t.Context()); err == nil {
		t.Error("Check against a failing server succeeded")
	}
}

func TestNewS3RefusesBadConfig(t *testing.T) {
	t.Parallel()
	good := storage.S3Config{Endpoint: "http://127.0.0.1:1", Bucket: "b-1", AccessKeyID: "k", SecretAccessKey: "s"}
	for name, change := range map[string]func(*storage.S3Config){
		"endpoint not a URL": func(c *storage.S3Config) { c.Endpoint = "127.0.0.1:9000" },
		"ftp endpoint":       func(c *storage.S3Config) { c.Endpoint = "ftp://x" },
		"no bucket":          func(c *storage.S3Config) { c.Bucket = "" },
		"small parts":        func(c *storage.S3Config) { c.PartSize = 1 << 20 },
	} {
		c := good
		change(&c)
		if _, err := storage.NewS3(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := storage.NewS3(good); err != nil {
		t.Errorf("a good config: %v", err)
	}
}
