package logging_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"assistant/server/logging"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.b.Write(p)
}

func (s *syncBuf) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestBufferedWriterKeepsEveryLineWhole(t *testing.T) {
	t.Parallel()
	out := &syncBuf{}
	w := logging.NewBufferedWriter(out, 1024, time.Hour)
	log := logging.New(w, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				log.Info("line", "g", g, "i", i, "pad", strings.Repeat("x", 50))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("a broken line: %q", l)
		}
	}
	if out.n >= 1600 {
		t.Errorf("%d writes for 1600 lines: not batched", out.n)
	}
}

func TestBufferedWriterFlushesOnItsOwn(t *testing.T) {
	t.Parallel()
	out := &syncBuf{}
	w := logging.NewBufferedWriter(out, 1<<20, 10*time.Millisecond)
	defer w.Close()
	_, _ = w.Write([]byte("hello\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatal("the buffered line was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
