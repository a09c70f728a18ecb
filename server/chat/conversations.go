package chat

import (
	"context"
	"strings"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/pagination"
)

// ListConversations pages through the user's conversations, newest activity first.
func (c *Chat) ListConversations(ctx context.Context, req api.ListConversationsRequestObject) (api.ListConversationsResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.Conversation, error) {
			params := db.ListConversationsParams{UserID: p.UserID, PageSize: n}
			if after != nil {
				params.AfterAt, params.AfterID = &after.At, &after.ID
			}
			if req.Params.Q != nil {
				pattern := "%" + likeEscaper.Replace(*req.Params.Q) + "%"
				params.TitlePattern = &pattern
			}
			return c.Q.ListConversations(ctx, c.DB, params)
		},
		func(v db.Conversation) pagination.Position { return pagination.Position{At: v.LastMessageAt, ID: v.ID} }, toConversation)
	if err != nil {
		return nil, err
	}
	return api.ListConversations200JSONResponse{Items: items, NextCursor: next}, nil
}

// likeEscaper makes user text literal inside an ILIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// CreateConversation starts a conversation.
func (c *Chat) CreateConversation(ctx context.Context, req api.CreateConversationRequestObject) (api.CreateConversationResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	params := db.CreateConversationParams{ID: database.NewID(), UserID: p.UserID}
	if t := req.Body.Title; t != nil {
		params.Title = strings.TrimSpace(*t)
		params.TitleSet = params.Title != ""
	}
	if s := req.Body.SystemPrompt; s != nil && *s != "" {
		params.SystemPrompt = s
	}
	if m := req.Body.Model; m != nil {
		if err := c.Spending.CheckModel(ctx, *m, "body.model"); err != nil {
			return nil, err
		}
	}
	params.Model = req.Body.Model
	conv, err := c.Q.CreateConversation(ctx, c.DB, params)
	if err != nil {
		return nil, err
	}
	return api.CreateConversation201JSONResponse(toConversation(conv)), nil
}

// GetConversation answers with one conversation of the user.
func (c *Chat) GetConversation(ctx context.Context, req api.GetConversationRequestObject) (api.GetConversationResponseObject, error) {
	conv, _, err := c.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	return api.GetConversation200JSONResponse(toConversation(conv)), nil
}

// UpdateConversation renames it, changes its system prompt or model, or switches the branch
// it shows.
func (c *Chat) UpdateConversation(ctx context.Context, req api.UpdateConversationRequestObject) (api.UpdateConversationResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	params := db.UpdateConversationParams{ID: req.ConversationId, UserID: p.UserID}
	if t := req.Body.Title; t != nil {
		title := strings.TrimSpace(*t)
		if title == "" {
			return nil, apierr.Validation(api.FieldError{Field: "body.title", Message: "must not be blank"})
		}
		params.Title = &title
	}
	if s := req.Body.SystemPrompt; s != nil {
		params.ClearSystemPrompt = *s == ""
		params.SystemPrompt = s
	}
	if m := req.Body.Model; m != nil {
		if *m != "" {
			if err := c.Spending.CheckModel(ctx, *m, "body.model"); err != nil {
				return nil, err
			}
		}
		params.ClearModel = *m == ""
		params.Model = m
	}
	if id := req.Body.CurrentMessageId; id != nil {
		// Any message of the conversation: the branch shown is the path to it.
		_, err := c.Q.GetMessage(ctx, c.DB, db.GetMessageParams{ID: *id, ConversationID: req.ConversationId, UserID: p.UserID})
		if database.IsNoRows(err) {
			if _, _, err := c.conversation(ctx, req.ConversationId); err != nil {
				return nil, err // someone else's conversation, or none: 404
			}
			return nil, apierr.Validation(api.FieldError{Field: "body.current_message_id", Message: "is not a message of this conversation"})
		}
		if err != nil {
			return nil, err
		}
		params.CurrentMessageID = id
	}
	conv, err := c.Q.UpdateConversation(ctx, c.DB, params)
	if database.IsNoRows(err) {
		return nil, apierr.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return api.UpdateConversation200JSONResponse(toConversation(conv)), nil
}

// DeleteConversation deletes it with its messages, stopping a reply being generated.
func (c *Chat) DeleteConversation(ctx context.Context, req api.DeleteConversationRequestObject) (api.DeleteConversationResponseObject, error) {
	_, p, err := c.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	if err := c.Generations.CancelConversation(ctx, req.ConversationId); err != nil {
		return nil, err
	}
	n, err := c.Q.DeleteConversation(ctx, c.DB, req.ConversationId, p.UserID)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, apierr.ErrNotFound
	}
	return api.DeleteConversation204Response{}, nil
}
