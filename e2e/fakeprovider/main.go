// Command fakeprovider is the AI provider of the Docker end-to-end run: an OpenAI-compatible
// server over TLS (the api reaches it through the image's CA bundle plus the test's CA)
// that streams FAKE_CHUNKS words ("w0 w1 ...") FAKE_DELAY apart in the real wire format,
// and tells, at GET /clients, the addresses of the replicas whose replies it is streaming.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

func main() {
	chunks, err := strconv.Atoi(os.Getenv("FAKE_CHUNKS"))
	if err != nil || chunks < 1 {
		chunks = 5
	}
	delay, err := time.ParseDuration(os.Getenv("FAKE_DELAY"))
	if err != nil {
		delay = 10 * time.Millisecond
	}
	var (
		mu      sync.Mutex
		running = map[string]int{}
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"fake-model","object":"model","created":1,"owned_by":"e2e"}]}`)
	})
	mux.HandleFunc("GET /clients", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		var ips []string
		for ip, n := range running {
			if n > 0 {
				ips = append(ips, ip)
			}
		}
		mu.Unlock()
		slices.Sort(ips)
		_ = json.NewEncoder(w).Encode(ips)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		running[ip]++
		mu.Unlock()
		defer func() {
			mu.Lock()
			running[ip]--
			mu.Unlock()
		}()
		w.Header().Set("Content-Type", "text/event-stream")
		flusher := w.(http.Flusher)
		send := func(v any) bool {
			b, _ := json.Marshal(v)
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return false
			}
			flusher.Flush()
			return true
		}
		chunk := func(content string, finish any) map[string]any {
			delta := map[string]any{}
			if content != "" {
				delta["content"] = content
			}
			return map[string]any{"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		}
		for i := range chunks {
			if i > 0 {
				select {
				case <-time.After(delay):
				case <-r.Context().Done():
					return
				}
			}
			word := fmt.Sprintf("w%d", i)
			if i > 0 {
				word = " " + word
			}
			if !send(chunk(word, nil)) {
				return
			}
		}
		send(chunk("", "stop"))
		send(map[string]any{"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
			"choices": []any{}, "usage": map[string]int{"prompt_tokens": 7, "completion_tokens": chunks, "total_tokens": 7 + chunks}})
		fmt.Fprint(w, "data: [DONE]\n\n")
		flusher.Flush()
	})
	srv := &http.Server{Addr: ":8443", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServeTLS("/certs/provider.crt", "/certs/provider.key"))
}
