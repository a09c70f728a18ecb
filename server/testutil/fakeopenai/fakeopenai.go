// Package fakeopenai is an OpenAI-compatible chat server for tests: it speaks the real
// streaming wire format (data: chunks, then data: [DONE]) and misbehaves on demand.
package fakeopenai

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Modes of misbehaviour.
const (
	Normal    = ""          // stream the chunks, finish, usage, [DONE]
	Status500 = "500"       // answer 500 with an error body
	Status429 = "429"       // answer 429 with an error body
	Malformed = "malformed" // a chunk that is not JSON after the first one
	Stall     = "stall"     // the first chunk, then nothing until the caller gives up
	Cut       = "cut"       // some chunks, then the connection is closed without [DONE]
)

// Behavior is what the next requests get.
type Behavior struct {
	Mode   string
	Chunks []string
	// Step, when set, must deliver one value before each chunk after the first (and before
	// the finish), so a test decides when the stream moves on.
	Step chan struct{}
	// Delay is slept before each chunk after the first.
	Delay time.Duration
	// NoUsage leaves out the usage chunk, as providers that do not report usage do.
	NoUsage bool
	// PromptTokens and CompletionTokens are the usage reported (7 and 3 when zero; the
	// completion at most the max_tokens asked for).
	PromptTokens, CompletionTokens int
}

// Request is what the fake received.
type Request struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Stream bool `json:"stream"`
	// MaxTokens is the max_tokens sent (nil when absent). Each chunk counts as a token: a
	// stream longer than max_tokens is cut there and finishes with "length".
	MaxTokens     *int `json:"max_tokens"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// Traceparent is the request's W3C traceparent header ("" when it had none).
	Traceparent string `json:"-"`
}

// Server is the fake provider.
type Server struct {
	*httptest.Server
	mu        sync.Mutex
	behavior  Behavior
	requests  []Request
	cancelled atomic.Int32
	completed atomic.Int32
	// ModelsFail makes GET /models answer 503.
	ModelsFail atomic.Bool
}

// New starts a fake for the test; BaseURL is what LLM_BASE_URL would be.
func New(t testing.TB) *Server {
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake outside a test (benchmarks); Close stops it.
func Start() *Server {
	s := &Server{behavior: Behavior{Chunks: []string{"Hello", ", world", "!"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("GET /v1/models", s.models)
	s.Server = httptest.NewServer(mux)
	return s
}

// BaseURL is what LLM_BASE_URL would be.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Set changes the behaviour for the following requests.
func (s *Server) Set(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behavior = b
}

// Requests are the chat requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Cancelled counts requests whose caller went away before the stream ended.
func (s *Server) Cancelled() int { return int(s.cancelled.Load()) }

// Completed counts streams sent to the end.
func (s *Server) Completed() int { return int(s.completed.Load()) }

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if s.ModelsFail.Load() {
		http.Error(w, `{"error":{"message":"secret upstream detail","type":"server_error"}}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"fake-model","object":"model","created":1,"owned_by":"test"},{"id":"fake-large","object":"model","created":1,"owned_by":"test"}]}`)
}

func chunk(content, finish string) string {
	delta := map[string]any{}
	if content != "" {
		delta["content"] = content
	}
	var fr any
	if finish != "" {
		fr = finish
	}
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
		"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": fr}},
	})
	return string(b)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	req.Traceparent = r.Header.Get("traceparent")
	s.mu.Lock()
	s.requests = append(s.requests, req)
	b := s.behavior
	s.mu.Unlock()

	switch b.Mode {
	case Status500, Status429:
		code := http.StatusInternalServerError
		if b.Mode == Status429 {
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", "1")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":{"message":"secret upstream detail","type":"server_error","code":"boom"}}`)
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(data string) bool {
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	wait := func() bool {
		if b.Delay > 0 {
			select {
			case <-time.After(b.Delay):
			case <-r.Context().Done():
				return false
			}
		}
		if b.Step != nil {
			select {
			case <-b.Step:
			case <-r.Context().Done():
				return false
			}
		}
		return true
	}
	gone := func() { s.cancelled.Add(1) }

	finish := "stop"
	if req.MaxTokens != nil && *req.MaxTokens >= 0 && len(b.Chunks) > *req.MaxTokens {
		b.Chunks, finish = b.Chunks[:*req.MaxTokens], "length"
	}
	for i, c := range b.Chunks {
		if i > 0 && !wait() {
			gone()
			return
		}
		if b.Mode == Malformed && i == 1 {
			send(`{"id":"chatcmpl-fake","choices":[{"index":0,"delta":{"content":`)
			return
		}
		if b.Mode == Cut && i == len(b.Chunks)-1 {
			if hj, ok := w.(http.Hijacker); ok {
				conn, _, err := hj.Hijack()
				if err == nil {
					conn.Close()
				}
			}
			return
		}
		if !send(chunk(c, "")) {
			gone()
			return
		}
		if b.Mode == Stall {
			<-r.Context().Done()
			gone()
			return
		}
	}
	if !wait() {
		gone()
		return
	}
	send(chunk("", finish))
	if !b.NoUsage && req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		prompt, completion := cmp.Or(b.PromptTokens, 7), cmp.Or(b.CompletionTokens, 3)
		if req.MaxTokens != nil {
			completion = min(completion, *req.MaxTokens)
		}
		send(fmt.Sprintf(`{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			prompt, completion, prompt+completion))
	}
	send("[DONE]")
	s.completed.Add(1)
}
