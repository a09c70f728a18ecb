package usage

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/llm"
)

// heldRetry is the Retry-After of a refusal because running replies hold the rest of the
// budget: they may end at any moment.
const heldRetry = 5 * time.Second

// Grant is a reply admitted under the budget: its max_tokens, and what this process holds
// for it until its usage is recorded.
type Grant struct {
	u        *Usage
	userID   uuid.UUID
	model    string
	prompt   int   // the estimate of the prompt's tokens
	reserved int64 // what the reply holds of the budget in this process
	done     bool
}

// Admit decides whether the user may have a new reply to req, and caps it: req.MaxTokens
// becomes min(MaxTokens, what the daily budget leaves after today's usage, the replies
// still running in this process and the prompt's estimate). With the budget used up, or
// nothing left for the reply, the answer is 429 quota_exceeded with Retry-After until the
// next UTC midnight. The grant must end with Record (the reply ran) or Release (it did not
// start).
func (u *Usage) Admit(ctx context.Context, userID uuid.UUID, req *llm.Request) (*Grant, error) {
	g := &Grant{u: u, userID: userID, model: req.Model, prompt: llm.EstimatePrompt(*req)}
	req.MaxTokens = u.MaxTokens
	if u.DailyBudget <= 0 {
		return g, nil
	}
	for attempt := 0; ; attempt++ {
		u.mu.Lock()
		seen := u.releases
		u.mu.Unlock()
		now := time.Now()
		used, err := u.Q.TokensUsedOn(ctx, u.DB, userID, date(day(now)))
		if err != nil {
			return nil, fmt.Errorf("tokens used today: %w", err)
		}
		u.mu.Lock()
		if u.releases != seen && attempt < 3 {
			// A reply was recorded meanwhile: its reservation is gone but its usage may be
			// missing from what was read. Read again.
			u.mu.Unlock()
			continue
		}
		held := u.reserved[userID]
		left := u.DailyBudget - used - held
		forReply := left - int64(g.prompt)
		if forReply <= 0 {
			u.mu.Unlock()
			resets := nextMidnight(now).Sub(now)
			switch {
			case used >= u.DailyBudget:
				return nil, apierr.QuotaExceeded("the daily token budget is used up; it starts again at midnight UTC", resets)
			case held > 0 && u.DailyBudget-used-int64(g.prompt) > 0:
				// What is left is held by replies still being generated: what they do not
				// use comes back when they end.
				return nil, apierr.QuotaExceeded(
					"the rest of the daily token budget is held by the replies being generated; try again when they have finished", heldRetry)
			}
			return nil, apierr.QuotaExceeded(fmt.Sprintf(
				"the daily token budget has about %d tokens left, not enough for this message and a reply; it starts again at midnight UTC", max(left, 0)), resets)
		}
		if req.MaxTokens <= 0 || int64(req.MaxTokens) > forReply {
			req.MaxTokens = int(forReply)
		}
		g.reserved = int64(g.prompt) + int64(req.MaxTokens)
		if u.reserved == nil {
			u.reserved = map[uuid.UUID]int64{}
		}
		u.reserved[userID] += g.reserved
		u.mu.Unlock()
		return g, nil
	}
}

// Release gives back what the grant held, for a reply that did not start.
func (g *Grant) Release() {
	u := g.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if g.done {
		return
	}
	g.done = true
	if g.reserved == 0 {
		return
	}
	u.releases++
	if u.reserved[g.userID] -= g.reserved; u.reserved[g.userID] <= 0 {
		delete(u.reserved, g.userID)
	}
}

// Record adds what the ended reply used to the user's day (UTC) and model: the provider's
// usage when it reported one, else an estimate of the prompt and of the text generated (a
// cancelled or failed reply's text was paid for too). A reply that failed before any text
// and without a usage is not counted: the provider refused it. A failure to record is
// logged; the reply is not affected.
func (g *Grant) Record(text string, res llm.Result, failed bool) {
	defer g.Release() // after the row is written, so an admission never sees neither
	u := g.u
	if u.Q == nil {
		return
	}
	p := db.AddTokenUsageParams{UserID: g.userID, Day: date(day(time.Now())), Model: g.model}
	switch {
	case res.Usage != nil:
		p.PromptTokens, p.CompletionTokens = int64(res.Usage.PromptTokens), int64(res.Usage.CompletionTokens)
	case failed && text == "":
		return
	default:
		p.PromptTokens = int64(g.prompt)
		if text != "" {
			p.CompletionTokens = int64(llm.EstimateTokens(text))
		}
	}
	var err error
	for attempt := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = u.Q.AddTokenUsage(ctx, u.DB, p)
		cancel()
		if err == nil {
			return
		}
		if attempt < 2 {
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
		}
	}
	u.Log.Error("record a reply's token usage", slog.String("user_id", g.userID.String()), slog.String("model", g.model),
		slog.Int64("prompt_tokens", p.PromptTokens), slog.Int64("completion_tokens", p.CompletionTokens), slog.Any("error", err))
}
