package storage_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"assistant/server/storage"
	"assistant/server/testutil/s3test"
)

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// pattern is an endless reader of varied bytes that allocates nothing.
type pattern struct {
	block []byte
	off   int
}

func (p *pattern) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], p.block[p.off:])
		n += k
		p.off = (p.off + k) % len(p.block)
	}
	return n, nil
}

// BenchmarkStore1GiB writes 1 GiB to a store as an upload does (32 KiB writes), commits it
// and reads it back, and reports the throughput each way and the process's peak RSS. Run one
// backend per process, so the peak is that backend's alone:
//
//	scripts/with-services.sh go test ./server/storage/ -run '^$' -bench 'Store1GiB/s3' -benchtime 1x
//	go test ./server/storage/ -run '^$' -bench 'Store1GiB/local' -benchtime 1x
func BenchmarkStore1GiB(b *testing.B) {
	const size = 1 << 30
	for _, backend := range []struct {
		name string
		new  func(b *testing.B) storage.Store
	}{
		{"local", func(b *testing.B) storage.Store {
			s, err := storage.NewLocal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"s3", func(b *testing.B) storage.Store { return s3test.Store(b).Sub("uploads") }},
	} {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.new(b)
			src := &pattern{block: bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\n"), 1000)}
			buf := make([]byte, 32<<10)
			var up, down time.Duration
			for i := 0; b.Loop(); i++ {
				key := "bench/" + strconv.Itoa(i)
				start := time.Now()
				blob, err := s.Create(b.Context(), key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(blob, io.LimitReader(src, size), buf); err != nil {
					b.Fatal(err)
				}
				if err := blob.Commit(); err != nil {
					b.Fatal(err)
				}
				up += time.Since(start)
				start = time.Now()
				f, err := s.Open(b.Context(), key)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, f, buf)
				f.Close()
				if err != nil || n != size {
					b.Fatalf("read back %d bytes: %v", n, err)
				}
				down += time.Since(start)
				if err := s.Delete(b.Context(), key); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)*float64(b.N)/up.Seconds()/(1<<20), "MiB/s-write")
			b.ReportMetric(float64(size)*float64(b.N)/down.Seconds()/(1<<20), "MiB/s-read")
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "MiB-peak-RSS")
		})
	}
}
