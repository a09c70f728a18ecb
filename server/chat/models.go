package chat

import (
	"context"
	"net/http"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// ListModels lists the models users may choose: LLM_MODELS, or what the provider offers,
// and the default model.
func (c *Chat) ListModels(ctx context.Context, _ api.ListModelsRequestObject) (api.ListModelsResponseObject, error) {
	provider := c.Generations.Provider()
	ids, err := c.Spending.FreshModels(ctx)
	if err != nil {
		// Logged once, with its cause, where every failure is: apierr.Write.
		return nil, apierr.New(http.StatusBadGateway, api.ErrorBodyCodeUpstreamError, "the AI provider could not list its models").Wrap(err)
	}
	out := api.ListModels200JSONResponse{DefaultModel: provider.DefaultModel(), Items: make([]api.ModelInfo, 0, len(ids))}
	for _, id := range ids {
		out.Items = append(out.Items, api.ModelInfo{Id: id})
	}
	return out, nil
}
