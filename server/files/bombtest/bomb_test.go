package bombtest

import (
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
	"assistant/server/testutil/pdftest"
)

// heapPeak samples the heap every 5 ms until stopped and returns the highest HeapInuse.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// peakRSS is the process's peak resident set (VmHWM), in bytes; 0 where unknown.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			var kb uint64
			for _, c := range f[1] {
				kb = kb*10 + uint64(c-'0')
			}
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS starts VmHWM again from the current RSS (Linux; ignored elsewhere).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

const mib = 1 << 20

// A PDF of ~200 KB whose one page shows 32 MiB of text, attached to three sends at once:
// the heap stays bounded and the model is told the text was cut.
func TestPDFBombAttachedToThreeSends(t *testing.T) {
	// Not parallel, and alone in its package: the heap measured is this test's.
	fake := fakeopenai.New(t)
	provider := llm.NewOpenAI(fake.BaseURL(), "test-key", "fake-model", time.Minute)
	env := apitest.NewWithProvider(t, provider, func(c *config.Config) { c.GenerationsPerUser = 10 })
	token := env.Register("ada@example.com", "correct horse battery").AccessToken

	line := "All work and no play makes Jack a dull boy. "
	const textBytes = 32 * mib
	bomb := pdftest.Build(pdftest.Page{Content: pdftest.Repeat(line, textBytes/len(line)), Compress: true})
	t.Logf("the PDF is %d KB; its page shows %d MiB of text", len(bomb)>>10, textBytes/mib)

	var convs []api.Conversation
	for range 3 {
		r := env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{})
		var c api.Conversation
		r.JSON(t, &c)
		convs = append(convs, c)
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	resetPeakRSS()
	rssBase := peakRSS()
	stop := heapPeak()
	start := time.Now()

	up := env.Upload(token, "bomb.pdf", bomb)
	if up.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", up.StatusCode, up.Body)
	}
	var file api.File
	up.JSON(t, &file)
	uploaded := time.Since(start)

	var wg sync.WaitGroup
	statuses := make([]int, len(convs))
	for i, c := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := env.As(token, http.MethodPost, "/api/v1/conversations/"+c.Id.String()+"/messages",
				map[string]any{"content": "Summarise", "file_ids": []string{file.Id.String()}})
			statuses[i] = r.StatusCode
		}()
	}
	wg.Wait()
	total := time.Since(start)
	peak := stop()
	rss := peakRSS()

	for i, s := range statuses {
		if s != http.StatusCreated {
			t.Errorf("send %d: %d", i, s)
		}
	}
	growth := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use: %.1f MiB before, peak %.1f MiB (+%.1f MiB); peak RSS %.1f MiB (from %.1f MiB); upload %v, upload and three sends %v",
		float64(base.HeapInuse)/mib, float64(peak)/mib, float64(growth)/mib, float64(rss)/mib, float64(rssBase)/mib,
		uploaded.Round(time.Millisecond), total.Round(time.Millisecond))

	reqs := fake.Requests()
	if len(reqs) != 3 {
		t.Fatalf("the model got %d requests", len(reqs))
	}
	for _, r := range reqs {
		last := r.Messages[len(r.Messages)-1].Content
		if !strings.Contains(last, "All work and no play") || !strings.Contains(last, "\n[truncated: the first 1048576 bytes of the text, up to page 1 of 1]\n</file>") {
			t.Errorf("the model did not get the text and the truncation note: %.200q…%q", last, last[max(0, len(last)-200):])
		}
	}
	// Read once, at upload: the three sends reuse the stored text.
	var extractions []map[string]any
	for _, l := range env.Logs.Lines(t) {
		if l["msg"] == "file text extracted" {
			extractions = append(extractions, l)
		}
	}
	if len(extractions) != 1 {
		t.Errorf("%d extractions", len(extractions))
	} else {
		took, _ := extractions[0]["took"].(float64)
		t.Logf("extraction: %v bytes of text in %v (%v)", extractions[0]["text_bytes"], time.Duration(took).Round(time.Millisecond), extractions[0]["truncated"])
	}
	// Measured: the text read whole by the parser, three times at once, took +327 MiB of
	// heap (+490 MiB under -race) and 45 s; read once, as a stream, up to 1 MiB of text,
	// about +10 MiB and 0.4 s. The bound leaves room for the GC's timing.
	if growth > 48*mib {
		t.Errorf("the heap grew by %.1f MiB; the bound is 48 MiB", float64(growth)/mib)
	}
}
