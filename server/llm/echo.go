package llm

import (
	"context"
	"strings"
	"time"
)

// EchoModel is the echo provider's only model.
const EchoModel = "echo"

// Echo answers without any AI: it says that it is the echo provider and repeats the last
// user message, streamed word by word with Delay between words. The reply depends only on
// the request, so tests can predict it.
type Echo struct {
	Delay time.Duration
}

// EchoReply is the text Echo answers to a user message.
func EchoReply(userMessage string) string {
	return "This is the echo provider (no AI model is configured). You said: " + userMessage
}

func (e Echo) Stream(ctx context.Context, req Request, onDelta func(string) error) (Result, error) {
	last := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == RoleUser {
			last = req.Messages[i].Content
			break
		}
	}
	reply := EchoReply(last)
	words := strings.SplitAfter(reply, " ")
	// A word is a token here (as its usage says), so MaxTokens cuts the reply after that
	// many words, finishing with "length" as an OpenAI-compatible provider does.
	finish := "stop"
	if req.MaxTokens > 0 && len(words) > req.MaxTokens {
		words, finish = words[:req.MaxTokens], "length"
	}
	for i, w := range words {
		if i > 0 && e.Delay > 0 {
			t := time.NewTimer(e.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return Result{}, ctx.Err()
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if err := onDelta(w); err != nil {
			return Result{}, err
		}
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
	}
	return Result{FinishReason: finish, Usage: &Usage{PromptTokens: prompt, CompletionTokens: len(words)}}, nil
}

func (Echo) Models(context.Context) ([]string, error) { return []string{EchoModel}, nil }
func (Echo) DefaultModel() string                     { return EchoModel }
