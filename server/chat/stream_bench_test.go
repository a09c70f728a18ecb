package chat_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"assistant/server/testutil/fakeopenai"
)

// BenchmarkStreamLatency measures the time from the fake provider sending a chunk to the
// client receiving its delta event through the server (over loopback, through the OpenAI
// client library, the generation run, and the SSE writer). It reports the median and p99.
func BenchmarkStreamLatency(b *testing.B) {
	f := setupB(b)
	const chunks = 200
	words := make([]string, chunks)
	for i := range words {
		words[i] = "word "
	}
	var lat []time.Duration
	for b.Loop() {
		step := make(chan struct{})
		f.fake.Set(fakeopenai.Behavior{Chunks: words, Step: step})
		s := f.stream("go")
		s.MustNext(b) // message
		s.MustNext(b) // first delta
		for i := 1; i < chunks; i++ {
			start := time.Now()
			step <- struct{}{}
			ev := s.MustNext(b)
			lat = append(lat, time.Since(start))
			if ev.Name != "delta" || !strings.Contains(ev.Data, "word") {
				b.Fatalf("got %+v", ev)
			}
		}
		step <- struct{}{}
		s.Rest(b)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
