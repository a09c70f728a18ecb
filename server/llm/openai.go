package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
)

// OpenAI speaks the OpenAI-compatible chat completions API, streaming, through the
// go-openai client library. BaseURL includes the /v1 suffix.
type OpenAI struct {
	client *openai.Client
	model  string
	// idle bounds the wait for the first and for each next chunk: a stalled provider is a
	// timeout, however long the whole reply may legitimately take.
	idle time.Duration
}

// NewOpenAI returns a provider for the API at baseURL.
func NewOpenAI(baseURL, apiKey, model string, timeout time.Duration) *OpenAI {
	cfg := openai.DefaultConfig(apiKey)
	cfg.BaseURL = baseURL
	// No client-level timeout: a reply may stream for minutes; idle bounds each wait. The
	// transport makes a span of each request inside a traced reply and sends its W3C
	// traceparent, so a provider that traces continues the same trace; outside one it
	// sends nothing more.
	cfg.HTTPClient = &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport,
		otelhttp.WithPropagators(propagation.TraceContext{}))}
	return &OpenAI{client: openai.NewClientWithConfig(cfg), model: model, idle: timeout}
}

func (o *OpenAI) DefaultModel() string { return o.model }

var errStalled = errors.New("no data from the provider within the timeout")

func (o *OpenAI) Stream(ctx context.Context, req Request, onDelta func(string) error) (Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	msgs := make([]openai.ChatCompletionMessage, 0, len(req.Messages))
	for _, m := range req.Messages {
		role := openai.ChatMessageRoleUser
		switch m.Role {
		case RoleSystem:
			role = openai.ChatMessageRoleSystem
		case RoleAssistant:
			role = openai.ChatMessageRoleAssistant
		}
		msgs = append(msgs, openai.ChatCompletionMessage{Role: role, Content: m.Content})
	}
	model := req.Model
	if model == "" {
		model = o.model
	}

	// The watchdog cancels the request when no chunk arrives within idle.
	alive := make(chan struct{}, 1)
	go func() {
		t := time.NewTimer(o.idle)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-alive:
				if !t.Stop() {
					<-t.C
				}
				t.Reset(o.idle)
			case <-t.C:
				cancel(errStalled)
				return
			}
		}
	}()

	stream, err := o.client.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{
		Model:    model,
		Messages: msgs,
		// max_tokens, not max_completion_tokens: the one every OpenAI-compatible server
		// (Ollama, vLLM, llama.cpp, LM Studio) understands.
		MaxTokens:     req.MaxTokens,
		Stream:        true,
		StreamOptions: &openai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		return Result{}, classify(ctx, err)
	}
	defer stream.Close()
	var res Result
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, classify(ctx, err)
		}
		select {
		case alive <- struct{}{}:
		default:
		}
		if chunk.Usage != nil {
			res.Usage = &Usage{PromptTokens: chunk.Usage.PromptTokens, CompletionTokens: chunk.Usage.CompletionTokens}
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 {
				continue
			}
			if c.Delta.Content != "" {
				if err := onDelta(c.Delta.Content); err != nil {
					return res, err
				}
			}
			if c.FinishReason != "" {
				res.FinishReason = string(c.FinishReason)
			}
		}
	}
	if res.FinishReason == "" {
		// The stream ended without saying why: cut off in the middle.
		return res, &UpstreamError{Code: CodeBadResponse, Cause: errors.New("stream ended without a finish reason")}
	}
	return res, nil
}

// classify turns a client error into an *UpstreamError, or the context's error when the
// caller cancelled.
func classify(ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case cause == errStalled:
		return &UpstreamError{Code: CodeTimeout, Cause: err}
	case cause != nil:
		return cause
	}
	status := 0
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		status = apiErr.HTTPStatusCode
	case errors.As(err, &reqErr):
		status = reqErr.HTTPStatusCode
	}
	switch {
	case status == http.StatusTooManyRequests:
		return &UpstreamError{Code: CodeRateLimited, Cause: err}
	case status >= 500:
		return &UpstreamError{Code: CodeUnavailable, Cause: err}
	case status > 0:
		return &UpstreamError{Code: CodeBadResponse, Cause: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &UpstreamError{Code: CodeTimeout, Cause: err}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return &UpstreamError{Code: CodeUnavailable, Cause: err}
	}
	return &UpstreamError{Code: CodeBadResponse, Cause: fmt.Errorf("stream: %w", err)}
}

func (o *OpenAI) Models(ctx context.Context) ([]string, error) {
	list, err := o.client.ListModels(ctx)
	if err != nil {
		return nil, classify(ctx, err)
	}
	ids := make([]string, 0, len(list.Models))
	for _, m := range list.Models {
		ids = append(ids, m.ID)
	}
	return ids, nil
}
