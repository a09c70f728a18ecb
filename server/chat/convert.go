package chat

import (
	"context"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/generation"
)

// This file is the one place where rows become the API's values: conversations, messages
// (with their siblings) and the payloads of the stream's events.

// ToConversation is the API shape of a conversation row.
func ToConversation(c db.Conversation) api.Conversation { return toConversation(c) }

// ToMessages is the API shape of a set of message rows holding every message of their
// conversation (the whole tree): each message's siblings are found among them.
func ToMessages(rows []db.Message) []api.Message {
	type key struct {
		root   bool
		parent uuid.UUID
	}
	keyOf := func(m db.Message) key {
		if m.ParentID == nil {
			return key{root: true}
		}
		return key{parent: *m.ParentID}
	}
	siblings := map[key][]uuid.UUID{}
	for _, m := range rows { // oldest first
		siblings[keyOf(m)] = append(siblings[keyOf(m)], m.ID)
	}
	out := make([]api.Message, len(rows))
	for i, m := range rows {
		out[i] = toMessage(m, siblings[keyOf(m)])
	}
	return out
}

func toConversation(c db.Conversation) api.Conversation {
	return api.Conversation{Id: c.ID, Title: c.Title, SystemPrompt: c.SystemPrompt, Model: c.Model,
		CurrentMessageId: c.CurrentMessageID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, LastMessageAt: c.LastMessageAt}
}

// toMessage is the API shape of a message row with its siblings (itself included, oldest
// first).
func toMessage(m db.Message, siblings []uuid.UUID) api.Message {
	if len(siblings) == 0 {
		siblings = []uuid.UUID{m.ID}
	}
	out := api.Message{Id: m.ID, ConversationId: m.ConversationID, ParentId: m.ParentID, SiblingIds: siblings,
		Role: api.MessageRole(m.Role), Content: m.Content,
		Status: api.MessageStatus(m.Status), Model: m.Model, FinishReason: m.FinishReason, ErrorCode: m.ErrorCode,
		FileIds: m.FileIds, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if out.FileIds == nil {
		out.FileIds = []uuid.UUID{}
	}
	if m.PromptTokens != nil && m.CompletionTokens != nil {
		out.Usage = &api.Usage{PromptTokens: int(*m.PromptTokens), CompletionTokens: int(*m.CompletionTokens)}
	}
	return out
}

// apiMessage is the API shape of one message row, its siblings read from the database.
func (c *Chat) apiMessage(ctx context.Context, m db.Message) (api.Message, error) {
	siblings, err := c.Q.ListSiblingIds(ctx, c.DB, m.ParentID, m.ConversationID)
	if err != nil {
		return api.Message{}, err
	}
	return toMessage(m, siblings), nil
}

// eventData is the payload of a stream's event, as the spec describes it: MessageEvent
// (RegenerateEvent for a regenerated reply's stream), DeltaEvent, DoneEvent, ErrorEvent
// (the error envelope, with this stream's request id).
func (c *Chat) eventData(ctx context.Context, e generation.Event, regenerated bool, requestID string) (any, error) {
	switch e.Name {
	case generation.EventMessage:
		user, err := c.apiMessage(ctx, e.Message)
		if err != nil {
			return nil, err
		}
		if regenerated {
			return api.RegenerateEvent{UserMessage: user, AssistantMessageId: e.ReplyID}, nil
		}
		return api.MessageEvent{UserMessage: user, AssistantMessageId: e.ReplyID}, nil
	case generation.EventDelta:
		return api.DeltaEvent{Content: e.Delta}, nil
	case generation.EventError:
		return api.ErrorEvent{Error: api.ErrorBody{Code: api.ErrorBodyCodeUpstreamError, Message: failureText(e.Message), RequestId: requestID}}, nil
	default:
		reply, err := c.apiMessage(ctx, e.Message)
		return api.DoneEvent(reply), err
	}
}
