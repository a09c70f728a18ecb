package usage

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// modelsTTL is how long the provider's model list is kept before it is asked again.
const modelsTTL = time.Minute

// AllowedModels are the models users may choose: Models when set, else what the provider
// lists (kept for a minute), and the default model in any case. The error is the
// provider's, when it cannot list them.
func (u *Usage) AllowedModels(ctx context.Context) ([]string, error) { return u.allowed(ctx, false) }

// FreshModels is AllowedModels for GET /models: the provider is asked now (when Models is
// not set), and its failure is the answer's, not hidden by an earlier list.
func (u *Usage) FreshModels(ctx context.Context) ([]string, error) { return u.allowed(ctx, true) }

func (u *Usage) allowed(ctx context.Context, fresh bool) ([]string, error) {
	def := u.Provider.DefaultModel()
	if len(u.Models) > 0 {
		return withDefault(u.Models, def), nil
	}
	listed, err := u.providerModels(ctx, fresh)
	if err != nil {
		return nil, err
	}
	return withDefault(listed, def), nil
}

// providerModels is the provider's list, from the cache while it is fresh (unless fresh
// is asked for). When the provider cannot answer a check, an expired list still serves
// (it is what was allowed a moment ago).
func (u *Usage) providerModels(ctx context.Context, fresh bool) ([]string, error) {
	u.mu.Lock()
	listed, at := u.listed, u.listedAt
	u.mu.Unlock()
	if !fresh && listed != nil && time.Since(at) < modelsTTL {
		return listed, nil
	}
	ids, err := u.Provider.Models(ctx)
	if err != nil {
		if listed != nil && !fresh {
			u.Log.WarnContext(ctx, "list models: using the previous list", slog.Any("error", err))
			return listed, nil
		}
		return nil, err
	}
	ids = slices.Clip(ids)
	u.mu.Lock()
	u.listed, u.listedAt = ids, time.Now()
	u.mu.Unlock()
	return ids, nil
}

func withDefault(ids []string, def string) []string {
	if def == "" || slices.Contains(ids, def) {
		return ids
	}
	return append([]string{def}, ids...)
}

// CheckModel is nil when model may be chosen, else a 422 naming field. When the allowed
// models come from the provider and it cannot list them, the answer is 503: nothing can be
// said about the model now.
func (u *Usage) CheckModel(ctx context.Context, model, field string) error {
	if model == u.Provider.DefaultModel() {
		return nil
	}
	allowed, err := u.AllowedModels(ctx)
	if err != nil {
		u.Log.ErrorContext(ctx, "list models to check a conversation's model", slog.Any("error", err))
		return apierr.New(http.StatusServiceUnavailable, api.ErrorBodyCodeServiceUnavailable,
			"the AI provider could not list its models; try again later").WithRetryAfter(5 * time.Second)
	}
	if !slices.Contains(allowed, model) {
		return apierr.Validation(api.FieldError{Field: field, Message: "is not one of the models offered (GET /models lists them)"})
	}
	return nil
}

// CheckStoredModel is nil when a conversation's stored model may still be used, else a 422
// naming the conversation: LLM_MODELS may have changed since it was chosen. When the list
// comes from the provider and it cannot give it, the model passes (it was checked when it
// was chosen; the provider refuses a model it does not have).
func (u *Usage) CheckStoredModel(ctx context.Context, model string) error {
	if model == u.Provider.DefaultModel() {
		return nil
	}
	allowed, err := u.AllowedModels(ctx)
	if err != nil {
		u.Log.WarnContext(ctx, "list models to check a conversation's model", slog.Any("error", err))
		return nil
	}
	if !slices.Contains(allowed, model) {
		return apierr.Validation(api.FieldError{Field: "path.conversation_id",
			Message: "the conversation's model is no longer offered; choose another one (PATCH the conversation's model)"})
	}
	return nil
}
