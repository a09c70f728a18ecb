package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// OpenAI speaks the OpenAI-compatible chat completions API, streaming, through the
// official client library. BaseURL includes the /v1 suffix.
type OpenAI struct {
	client openai.Client
	model  string
	// idle bounds the wait for the first and for each next chunk: a stalled provider is a
	// timeout, however long the whole reply may legitimately take.
	idle time.Duration
}

// NewOpenAI returns a provider for the API at baseURL.
func NewOpenAI(baseURL, apiKey, model string, timeout time.Duration) *OpenAI {
	return &OpenAI{
		client: openai.NewClient(
			option.WithBaseURL(baseURL),
			option.WithAPIKey(apiKey),
			// Retrying a half-streamed reply would duplicate text; the user retries instead.
			option.WithMaxRetries(0),
			option.WithHTTPClient(&http.Client{Transport: http.DefaultTransport}),
		),
		model: model,
		idle:  timeout,
	}
}

func (o *OpenAI) DefaultModel() string { return o.model }

func (o *OpenAI) Stream(ctx context.Context, req Request, onDelta func(string) error) (Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages))
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem:
			msgs = append(msgs, openai.SystemMessage(m.Content))
		case RoleAssistant:
			msgs = append(msgs, openai.AssistantMessage(m.Content))
		default:
			msgs = append(msgs, openai.UserMessage(m.Content))
		}
	}
	model := req.Model
	if model == "" {
		model = o.model
	}

	// The watchdog cancels the request when no chunk arrives within idle.
	errStalled := errors.New("no data from the provider within the timeout")
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

	stream := o.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         model,
		Messages:      msgs,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer stream.Close()
	var res Result
	for stream.Next() {
		select {
		case alive <- struct{}{}:
		default:
		}
		chunk := stream.Current()
		if chunk.Usage.TotalTokens > 0 || chunk.Usage.CompletionTokens > 0 {
			res.Usage = &Usage{PromptTokens: int(chunk.Usage.PromptTokens), CompletionTokens: int(chunk.Usage.CompletionTokens)}
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
				res.FinishReason = c.FinishReason
			}
		}
	}
	if err := stream.Err(); err != nil {
		return res, classify(ctx, err, errStalled)
	}
	if context.Cause(ctx) == errStalled {
		return res, &UpstreamError{Code: CodeTimeout, Cause: errStalled}
	}
	if res.FinishReason == "" {
		// The stream ended without saying why: cut off in the middle.
		return res, &UpstreamError{Code: CodeBadResponse, Cause: errors.New("stream ended without a finish reason")}
	}
	return res, nil
}

// classify turns a client error into an *UpstreamError, or the context's error when the
// caller cancelled.
func classify(ctx context.Context, err, errStalled error) error {
	if cause := context.Cause(ctx); errStalled != nil && cause == errStalled {
		return &UpstreamError{Code: CodeTimeout, Cause: err}
	} else if cause != nil {
		return cause
	}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests:
			return &UpstreamError{Code: CodeRateLimited, Cause: err}
		case apiErr.StatusCode >= 500:
			return &UpstreamError{Code: CodeUnavailable, Cause: err}
		default:
			return &UpstreamError{Code: CodeBadResponse, Cause: err}
		}
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
	page, err := o.client.Models.List(ctx)
	if err != nil {
		return nil, classify(ctx, err, nil)
	}
	ids := make([]string, 0, len(page.Data))
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	return ids, nil
}
