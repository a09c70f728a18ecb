package imports_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

// generateChatGPT writes a ChatGPT-format conversations.json of about size bytes to w, as
// a real export is shaped (a root, a hidden system node, turns with metadata, one
// regenerated answer per conversation), and returns how many conversations and messages
// it imports to.
func generateChatGPT(w io.Writer, size int64) (conversations, messages int, err error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := &countWriter{w: bw}
	para := "Lorem ipsum dolor sit amet, consectetur adipiscing elit — ünïcödé, 中文, עברית, 🧪. " +
		"Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "
	text := strings.Repeat(para, 6) // about 1 KB a message
	node := func(id, parent string, children []string, role, content string, at float64) map[string]any {
		n := map[string]any{"id": id, "children": children}
		if parent != "" {
			n["parent"] = parent
		} else {
			n["parent"] = nil
		}
		if role == "" {
			n["message"] = nil
			return n
		}
		n["message"] = map[string]any{
			"id": id, "author": map[string]any{"role": role, "name": nil, "metadata": map[string]any{}},
			"create_time": at, "update_time": nil,
			"content": map[string]any{"content_type": "text", "parts": []string{content}},
			"status":  "finished_successfully", "end_turn": role == "assistant", "weight": 1.0,
			"metadata":  map[string]any{"model_slug": "gpt-4o", "request_id": "8f" + id, "timestamp_": "absolute"},
			"recipient": "all", "channel": nil,
		}
		return n
	}
	if _, err := io.WriteString(cw, "["); err != nil {
		return 0, 0, err
	}
	const turns = 10
	for c := 0; cw.n < size; c++ {
		base := 1.7e9 + float64(c)*3600
		mapping := map[string]any{}
		id := func(i int) string { return fmt.Sprintf("c%d-n%d", c, i) }
		mapping["root"] = node("root", "", []string{id(0)}, "", "", 0)
		mapping[id(0)] = node(id(0), "root", []string{id(1)}, "system", "", base)
		parent := id(0)
		for i := 1; i <= 2*turns; i++ {
			role := "user"
			if i%2 == 0 {
				role = "assistant"
			}
			children := []string{}
			if i < 2*turns {
				children = append(children, id(i+1))
			}
			if i == 1 {
				children = append(children, id(99)) // a regenerated answer beside the first
			}
			mapping[id(i)] = node(id(i), parent, children, role, strconv.Itoa(i)+": "+text, base+float64(i))
			parent = id(i)
		}
		mapping[id(99)] = node(id(99), id(1), []string{}, "assistant", "again: "+text, base+1.5)
		conv := map[string]any{"title": fmt.Sprintf("Conversation %d", c), "create_time": base, "update_time": base + 100,
			"mapping": mapping, "moderation_results": []any{}, "current_node": id(2 * turns),
			"plugin_ids": nil, "conversation_id": fmt.Sprintf("conv-%d", c), "id": fmt.Sprintf("conv-%d", c)}
		b, err := json.Marshal(conv)
		if err != nil {
			return 0, 0, err
		}
		if c > 0 {
			if _, err := io.WriteString(cw, ","); err != nil {
				return 0, 0, err
			}
		}
		if _, err := cw.Write(b); err != nil {
			return 0, 0, err
		}
		conversations++
		messages += 2*turns + 1
	}
	if _, err := io.WriteString(cw, "]"); err != nil {
		return 0, 0, err
	}
	return conversations, messages, bw.Flush()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// measured imports a generated file of size bytes, streamed as it is generated, and
// reports the time it took and the peak of the heap in use during it (sampled) above the
// heap in use before.
func measured(t testing.TB, size int64) (elapsed time.Duration, peakHeap uint64, conversations int) {
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.MaxUploadBytes = size + 8<<20 }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	heap := sampleHeap(20 * time.Millisecond)
	var wg sync.WaitGroup

	pr, pw := io.Pipe()
	var wantConvs, wantMsgs int
	wg.Go(func() {
		var err error
		wantConvs, wantMsgs, err = generateChatGPT(pw, size)
		pw.CloseWithError(err)
	})
	start := time.Now()
	r := upload(env, token, pr)
	elapsed = time.Since(start)
	grew := heap()
	wg.Wait()
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %.500s", r.StatusCode, r.Body)
	}
	var res struct {
		Conversations, Messages int
		Skipped                 []any
	}
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Conversations != wantConvs || res.Messages != wantMsgs || len(res.Skipped) != 0 {
		t.Fatalf("imported %+v, want %d conversations and %d messages", res, wantConvs, wantMsgs)
	}
	if c := counts(t, env); c != [2]int{wantConvs, wantMsgs} {
		t.Fatalf("stored %v", c)
	}
	return elapsed, uint64(max(grew, 0)), res.Conversations
}

// vmHWM is the process's peak resident memory, from /proc (0 where there is none).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestLargeImportMemoryIsFlat imports files of two sizes: the heap an import holds does
// not grow with the file (the bound guards against reading it whole; the margin is wide).
func TestLargeImportMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 24 MB")
	}
	// Not parallel: the heap measured is the process's, so this test runs alone.
	_, small, _ := measured(t, 2<<20)
	_, large, n := measured(t, 24<<20)
	t.Logf("peak heap above the start: %d MB for 2 MB, %d MB for 24 MB (%d conversations)", small>>20, large>>20, n)
	if large > 64<<20 {
		t.Errorf("importing 24 MB took %d MB of heap: memory grows with the file", large>>20)
	}
}

// BenchmarkImport50MB imports a generated 50 MB ChatGPT export (make bench, or
// go test -run '^$' -bench Import50MB -benchtime 1x ./server/imports/) and reports its
// time, the peak heap above the start (sampled every 20 ms) and the process's peak RSS.
func BenchmarkImport50MB(b *testing.B) {
	for b.Loop() {
		elapsed, peak, n := measured(b, 50<<20)
		b.ReportMetric(elapsed.Seconds(), "s/import")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(vmHWM())/(1<<20), "peak-RSS-MB")
		b.ReportMetric(float64(n), "conversations")
	}
}

// sampleHeap starts sampling the heap in use every interval; the function it returns stops
// the sampling and answers the peak's growth above the heap at the start (in bytes).
func sampleHeap(interval time.Duration) func() int64 {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() int64 {
		close(stop)
		wg.Wait()
		return int64(peak.Load()) - int64(before.HeapInuse)
	}
}
