// Package usage is what replies may spend and what they spent: the models users may choose
// (LLM_MODELS, or what the provider lists), the cap on every reply (LLM_MAX_TOKENS), the
// tokens each reply used, recorded per user, UTC day and model, and the daily budget
// (USER_DAILY_TOKEN_BUDGET) that refuses replies past it. It also implements
// GET /users/me/usage.
package usage

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/llm"
)

// Usage holds the spending rules and implements the usage operation of the strict server.
// Its zero value allows any model, caps nothing and records nothing; build it with every
// field that applies.
type Usage struct {
	DB database.DB
	Q  *db.Queries
	// Provider lists the models when Models is empty, and names the default model.
	Provider llm.Provider
	// Models are the models users may choose (LLM_MODELS); empty allows what the provider
	// lists. The default model is always allowed.
	Models []string
	// MaxTokens caps every reply's completion tokens (LLM_MAX_TOKENS); 0 caps nothing.
	MaxTokens int
	// DailyBudget caps a user's tokens per UTC day (USER_DAILY_TOKEN_BUDGET); 0 is none.
	DailyBudget int64
	Log         *slog.Logger

	mu sync.Mutex
	// listed is the provider's model list, kept for modelsTTL.
	listed   []string
	listedAt time.Time
	// reserved is, per user, what this process's running replies may still spend: the
	// estimate of their prompt and their max_tokens, until their usage is recorded.
	reserved map[uuid.UUID]int64
	// releases counts recorded replies, so that an admission knows when the usage it read
	// may already be out of date.
	releases uint64
}

// maxDays is the longest range GET /users/me/usage answers.
const maxDays = 366

// defaultDays is the range without from: the last 30 days up to to.
const defaultDays = 30

// GetUsage answers with the user's usage by day and model, and the daily budget.
func (u *Usage) GetUsage(ctx context.Context, req api.GetUsageRequestObject) (api.GetUsageResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	today := day(now)
	to := today
	if req.Params.To != nil {
		to = day(req.Params.To.Time)
	}
	from := to.AddDate(0, 0, -(defaultDays - 1))
	if req.Params.From != nil {
		from = day(req.Params.From.Time)
	}
	switch {
	case from.After(to):
		return nil, apierr.Validation(api.FieldError{Field: "query.from", Message: "must not be after to"})
	case to.Sub(from) >= maxDays*24*time.Hour:
		return nil, apierr.Validation(api.FieldError{Field: "query.from", Message: "the range must be at most 366 days"})
	}
	rows, err := u.Q.ListTokenUsage(ctx, u.DB, db.ListTokenUsageParams{UserID: p.UserID, FromDay: date(from), ToDay: date(to)})
	if err != nil {
		return nil, err
	}
	used, err := u.Q.TokensUsedOn(ctx, u.DB, p.UserID, date(today))
	if err != nil {
		return nil, err
	}
	out := api.GetUsage200JSONResponse{
		Items:  make([]api.UsageDay, 0, len(rows)),
		Budget: api.UsageBudget{UsedToday: used, ResetsAt: nextMidnight(now)},
	}
	if u.DailyBudget > 0 {
		b := u.DailyBudget
		out.Budget.DailyTokens = &b
	}
	for _, r := range rows {
		out.Items = append(out.Items, api.UsageDay{Day: openapi_types.Date{Time: r.Day.Time}, Model: r.Model,
			PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Replies: r.Replies})
	}
	return out, nil
}

// day is t's UTC day at midnight.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// nextMidnight is the UTC midnight after now, when the day's budget starts again.
func nextMidnight(now time.Time) time.Time { return day(now).AddDate(0, 0, 1) }

func date(t time.Time) pgtype.Date { return pgtype.Date{Time: t, Valid: true} }
