// Package llm talks to the AI model behind one small interface. Two providers implement
// it: openai (any OpenAI-compatible chat API: OpenAI, Ollama, vLLM, llama.cpp's server,
// LM Studio) and echo (offline, deterministic, for development and tests).
package llm

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Roles of the messages sent to the model.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of the conversation as the model sees it.
type Message struct {
	Role    string
	Content string
}

// Request is a chat completion request.
type Request struct {
	Model    string
	Messages []Message
	// MaxTokens caps the reply's completion tokens (0: the provider's own limit).
	MaxTokens int
}

// EstimateTokens is a provider-independent estimate of a message's tokens: about four
// characters a token, plus a few for the message's framing. It budgets the context sent to
// the model and stands in for the usage of replies whose provider reports none.
func EstimateTokens(s string) int { return utf8.RuneCountInString(s)/4 + 4 }

// EstimatePrompt is the estimate of a request's prompt tokens.
func EstimatePrompt(req Request) int {
	n := 0
	for _, m := range req.Messages {
		n += EstimateTokens(m.Content)
	}
	return n
}

// Usage is the token count, when the provider reports it.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Result is how a completed stream ended.
type Result struct {
	FinishReason string
	Usage        *Usage
}

// Provider streams a chat completion. Stream calls onDelta for every piece of text, in
// order, and returns when the reply is complete, when ctx ends (the upstream request is
// closed), or with an *UpstreamError. An error from onDelta stops the stream and is
// returned as it is.
type Provider interface {
	Stream(ctx context.Context, req Request, onDelta func(text string) error) (Result, error)
	// Models lists the model ids the provider offers.
	Models(ctx context.Context) ([]string, error)
	// DefaultModel is the model used when a conversation names none.
	DefaultModel() string
}

// UpstreamError is a failure of the provider. Its Code is safe to store and show
// (timeout, rate_limited, unavailable, bad_response); the provider's own text stays in
// Cause, for the logs only.
type UpstreamError struct {
	Code  string
	Cause error
}

func (e *UpstreamError) Error() string { return fmt.Sprintf("upstream %s: %v", e.Code, e.Cause) }
func (e *UpstreamError) Unwrap() error { return e.Cause }

// Codes of UpstreamError.
const (
	CodeTimeout     = "upstream_timeout"
	CodeRateLimited = "upstream_rate_limited"
	CodeUnavailable = "upstream_unavailable"
	CodeBadResponse = "upstream_bad_response"
)

// AsUpstream reports whether err is an upstream failure, and its code.
func AsUpstream(err error) (string, bool) {
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue.Code, true
	}
	return "", false
}

// Config selects and sets up a provider.
type Config struct {
	// Provider is "openai" or "echo".
	Provider string
	// BaseURL includes the /v1 suffix; Model is the default model.
	BaseURL, APIKey, Model string
	// Timeout bounds the wait for the first and each next chunk (openai).
	Timeout time.Duration
	// EchoDelay is the echo provider's pause between words.
	EchoDelay time.Duration
}

// New returns the configured provider.
func New(c Config) Provider {
	if c.Provider == "openai" {
		return NewOpenAI(c.BaseURL, c.APIKey, c.Model, c.Timeout)
	}
	return Echo{Delay: c.EchoDelay}
}
