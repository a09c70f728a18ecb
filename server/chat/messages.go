package chat

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/generation"
	"assistant/server/llm"
	"assistant/server/notify"
	"assistant/server/pagination"
	"assistant/server/recovery"
)

// ListMessages pages through a conversation's messages, oldest first. Keyset on the id
// (UUIDv7, creation order): messages sent while paging appear on later pages, never twice.
func (c *Chat) ListMessages(ctx context.Context, req api.ListMessagesRequestObject) (api.ListMessagesResponseObject, error) {
	if _, _, err := c.conversation(ctx, req.ConversationId); err != nil {
		return nil, err
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.Message, error) {
			params := db.ListMessagesParams{ConversationID: req.ConversationId, PageSize: n}
			if after != nil {
				params.AfterID = &after.ID
			}
			return c.Q.ListMessages(ctx, c.DB, params)
		},
		func(m db.Message) pagination.Position { return pagination.Position{ID: m.ID} }, toMessage)
	if err != nil {
		return nil, err
	}
	return api.ListMessages200JSONResponse{Items: items, NextCursor: next}, nil
}

// firstEvent is the payload of a stream's message event.
type firstEvent struct {
	UserMessage        api.Message `json:"user_message"`
	AssistantMessageID uuid.UUID   `json:"assistant_message_id"`
}

// start builds the model's request, admits it under the user's daily token budget (429
// quota_exceeded, its max_tokens capped to what the budget leaves), stores the user's
// message and a pending reply, in one transaction that also enforces one running reply
// per conversation (409) and the user's cap (429), then starts the reply. Nothing is
// stored for a message that is refused. The user's message is committed before the
// provider is called.
func (c *Chat) start(ctx context.Context, convID uuid.UUID, body api.SendMessageRequest) (db.Message, db.Message, *generation.Run, error) {
	content := body.Content
	conv, p, err := c.conversation(ctx, convID)
	if err != nil {
		return db.Message{}, db.Message{}, nil, err
	}
	fileIDs := []uuid.UUID{}
	if body.FileIds != nil {
		fileIDs = *body.FileIds
	}
	// The files are read before anything is stored: one that cannot be read is a 422.
	docs, err := c.Files.Texts(ctx, p.UserID, fileIDs)
	if err != nil {
		return db.Message{}, db.Message{}, nil, err
	}
	model := c.Generations.Provider().DefaultModel()
	if conv.Model != nil {
		model = *conv.Model
		// LLM_MODELS may have changed since the conversation chose it.
		if err := c.Spending.CheckStoredModel(ctx, model); err != nil {
			return db.Message{}, db.Message{}, nil, err
		}
	}
	// The request is built before anything is stored (its history is what precedes the
	// user's message, whose id is taken now), so that the budget can refuse it first.
	userID := database.NewID()
	var req llm.Request
	err = recovery.Do(ctx, c.Log, "build the model's request", func() error {
		var err error
		req, err = c.buildRequest(ctx, conv, userID, content, docs, model)
		return err
	})
	if err != nil {
		return db.Message{}, db.Message{}, nil, err
	}
	grant, err := c.Spending.Admit(ctx, p.UserID, &req)
	if err != nil {
		return db.Message{}, db.Message{}, nil, err
	}
	var user, assistant db.Message
	err = database.WithTx(ctx, c.DB, func(tx pgx.Tx) error {
		if err := c.Q.LockUserGenerations(ctx, tx, p.UserID.String()); err != nil {
			return err
		}
		n, err := c.Q.CountRunningGenerations(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		if n >= int64(c.PerUser) {
			return apierr.New(http.StatusTooManyRequests, api.ErrorBodyCodeRateLimited,
				"too many replies are being generated at once; wait for one to finish").WithRetryAfter(time.Second)
		}
		user, err = c.Q.CreateMessage(ctx, tx, db.CreateMessageParams{
			ID: userID, ConversationID: conv.ID, Role: db.MessageRoleUser, Content: content, Status: db.MessageStatusComplete, FileIds: fileIDs})
		if err != nil {
			return err
		}
		assistant, err = c.Q.CreateMessage(ctx, tx, db.CreateMessageParams{
			ID: database.NewID(), ConversationID: conv.ID, Role: db.MessageRoleAssistant, Status: db.MessageStatusPending, Model: &model, FileIds: []uuid.UUID{}})
		if database.IsUniqueViolation(err, "messages_one_generation_idx") {
			return apierr.Conflict("a reply is already being generated in this conversation; wait for it or cancel it")
		}
		if err != nil {
			return err
		}
		return c.Q.TouchConversation(ctx, tx, deriveTitle(content), conv.ID)
	})
	if err != nil {
		grant.Release()
		return db.Message{}, db.Message{}, nil, err
	}
	// The message and its pending reply are committed: the reply starts even if the client
	// has just gone (a pending reply that never runs would block the conversation).
	run := c.Generations.Start(ctx, assistant, req, firstEvent{UserMessage: toMessage(user), AssistantMessageID: assistant.ID}, grant.Record)
	return user, assistant, run, nil
}

// SendMessage stores the message and answers once the reply is complete. The reply does
// not depend on this request: if the client leaves, it still completes and is stored.
func (c *Chat) SendMessage(ctx context.Context, req api.SendMessageRequestObject) (api.SendMessageResponseObject, error) {
	user, _, run, err := c.start(ctx, req.ConversationId, *req.Body)
	if err != nil {
		return nil, err
	}
	select {
	case <-run.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	reply := run.Final()
	if reply.Status == db.MessageStatusFailed {
		code := "internal"
		if reply.ErrorCode != nil {
			code = *reply.ErrorCode
		}
		return nil, upstreamError(code)
	}
	return api.SendMessage201JSONResponse{UserMessage: toMessage(user), AssistantMessage: toMessage(reply)}, nil
}

// SendMessageStream stores the message and streams the reply.
func (c *Chat) SendMessageStream(ctx context.Context, req api.SendMessageStreamRequestObject) (api.SendMessageStreamResponseObject, error) {
	// The slot is taken before the reply starts: a stream refused must not leave a reply
	// running that nobody asked to follow.
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	release, err := c.acquireStream(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	_, _, run, err := c.start(ctx, req.ConversationId, api.SendMessageRequest(*req.Body))
	if err != nil {
		release()
		return nil, err
	}
	return c.stream(ctx, release, func(ctx context.Context, emit func(generation.Event) error, ping func() error) error {
		return run.Follow(ctx, -1, c.Heartbeat, emit, ping)
	}), nil
}

// CancelMessage stops a reply and answers with it as stored.
func (c *Chat) CancelMessage(ctx context.Context, req api.CancelMessageRequestObject) (api.CancelMessageResponseObject, error) {
	m, err := c.message(ctx, req.ConversationId, req.MessageId)
	if err != nil {
		return nil, err
	}
	if final(m.Status) {
		return api.CancelMessage200JSONResponse(toMessage(m)), nil
	}
	stored, local, err := c.Generations.Cancel(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	if local {
		return api.CancelMessage200JSONResponse(toMessage(stored)), nil
	}
	// Running on another replica: ask it through the database, wake it with a
	// notification, and wait for the notification of its final state (or, should one be
	// missed, the fallback timer).
	done := c.Notify.Subscribe(m.ID, notify.Done)
	defer done.Close()
	if _, err := c.Q.RequestCancel(ctx, c.DB, m.ID); err == nil {
		if err := notify.Send(ctx, c.DB, notify.Cancel, m.ID); err != nil {
			c.Log.WarnContext(ctx, "notify a cancel request", slog.Any("error", err))
		}
	} else if !database.IsNoRows(err) {
		return nil, err
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	fallback := time.NewTimer(c.Notify.Fallback())
	defer fallback.Stop()
	for {
		m, err = c.Q.GetMessageByID(ctx, c.DB, m.ID)
		if err != nil {
			return nil, err
		}
		if final(m.Status) {
			return api.CancelMessage200JSONResponse(toMessage(m)), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			// Not stored yet: answered as it stands; the replica stores it cancelled.
			m, err = c.Q.GetMessageByID(ctx, c.DB, m.ID)
			if err != nil {
				return nil, err
			}
			return api.CancelMessage200JSONResponse(toMessage(m)), nil
		case <-done.C:
			fallback.Reset(c.Notify.Fallback())
		case <-fallback.C:
			fallback.Reset(c.Notify.Fallback())
		}
	}
}
