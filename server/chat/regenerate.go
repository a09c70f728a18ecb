package chat

import (
	"context"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/generation"
)

// regenerate starts a new reply to a user message (given an assistant message, to the user
// message it answers): a new assistant sibling, which becomes the conversation's current
// message. The model sees the path from the root to the user message.
func (c *Chat) regenerate(ctx context.Context, convID, msgID api.MessageId) (db.Message, *generation.Run, error) {
	conv, p, err := c.conversation(ctx, convID)
	if err != nil {
		return db.Message{}, nil, err
	}
	user, err := c.message(ctx, conv.ID, msgID)
	if err != nil {
		return db.Message{}, nil, err
	}
	if user.Role == db.MessageRoleAssistant {
		if user.ParentID == nil {
			return db.Message{}, nil, apierr.Validation(api.FieldError{Field: "path.message_id", Message: "is a reply to no message"})
		}
		if user, err = c.message(ctx, conv.ID, *user.ParentID); err != nil {
			return db.Message{}, nil, err
		}
		// An imported tree may hold a reply under a reply (a tool call dropped between
		// them): there is no user message to answer again.
		if user.Role != db.MessageRoleUser {
			return db.Message{}, nil, apierr.Validation(api.FieldError{Field: "path.message_id", Message: "answers no user message"})
		}
	}
	user, _, run, err := c.start(ctx, conv, p, user, false)
	return user, run, err
}

// RegenerateMessage answers a user message again, as a new assistant sibling, once the new
// reply is complete.
func (c *Chat) RegenerateMessage(ctx context.Context, req api.RegenerateMessageRequestObject) (api.RegenerateMessageResponseObject, error) {
	_, run, err := c.regenerate(ctx, req.ConversationId, req.MessageId)
	if err != nil {
		return nil, err
	}
	reply, err := c.reply(ctx, run)
	if err != nil {
		return nil, err
	}
	return api.RegenerateMessage201JSONResponse{AssistantMessage: reply}, nil
}

// RegenerateMessageStream is RegenerateMessage as server-sent events.
func (c *Chat) RegenerateMessageStream(ctx context.Context, req api.RegenerateMessageStreamRequestObject) (api.RegenerateMessageStreamResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	release, err := c.acquireStream(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	_, run, err := c.regenerate(ctx, req.ConversationId, req.MessageId)
	if err != nil {
		release()
		return nil, err
	}
	s := c.stream(ctx, release, followRun(run, c.Heartbeat))
	s.regenerated = true
	return s, nil
}
