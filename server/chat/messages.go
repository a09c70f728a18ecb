package chat

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/oapi-codegen/nullable"

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

// ListMessages pages through the branch the conversation shows: the path from the root to
// its current message, oldest first, each message with its siblings. Keyset on the id (a
// message's id is above its parent's): a page never repeats a message of an earlier one.
func (c *Chat) ListMessages(ctx context.Context, req api.ListMessagesRequestObject) (api.ListMessagesResponseObject, error) {
	conv, _, err := c.conversation(ctx, req.ConversationId)
	if err != nil {
		return nil, err
	}
	items, next, err := pagination.List(req.Params.Cursor, req.Params.Limit,
		func(after *pagination.Position, n int32) ([]db.ListMessagePathRow, error) {
			if conv.CurrentMessageID == nil {
				return nil, nil // no message yet
			}
			params := db.ListMessagePathParams{ConversationID: conv.ID, PageSize: n}
			if after != nil {
				params.AfterID = &after.ID
			}
			return c.Q.ListMessagePath(ctx, c.DB, params)
		},
		func(r db.ListMessagePathRow) pagination.Position { return pagination.Position{ID: r.Message.ID} },
		func(r db.ListMessagePathRow) api.Message { return toMessage(r.Message, r.SiblingIds) })
	if err != nil {
		return nil, err
	}
	return api.ListMessages200JSONResponse{Items: items, NextCursor: next}, nil
}

// parentFor is the message a new user message goes under: the given one, which must be an
// assistant message of the conversation (422 naming body.parent_id otherwise), or the
// conversation's current message; when that is a user message (a branch switched to it),
// the message it follows, so that the new one is its sibling. A null parent_id asks for a
// new first message (editing the first one). Nil: a first message.
func (c *Chat) parentFor(ctx context.Context, conv db.Conversation, asked nullable.Nullable[uuid.UUID]) (*uuid.UUID, error) {
	if asked.IsNull() {
		return nil, nil // a new first message
	}
	var given *uuid.UUID
	if asked.IsSpecified() {
		id := asked.MustGet()
		given = &id
	}
	if given == nil {
		if conv.CurrentMessageID == nil {
			return nil, nil
		}
		m, err := c.Q.GetMessageByID(ctx, c.DB, *conv.CurrentMessageID)
		if err != nil {
			return nil, err
		}
		if m.Role == db.MessageRoleUser {
			return m.ParentID, nil
		}
		return &m.ID, nil
	}
	m, err := c.Q.GetMessage(ctx, c.DB, db.GetMessageParams{ID: *given, ConversationID: conv.ID, UserID: conv.UserID})
	if database.IsNoRows(err) {
		return nil, apierr.Validation(api.FieldError{Field: "body.parent_id", Message: "is not a message of this conversation"})
	}
	if err != nil {
		return nil, err
	}
	if m.Role != db.MessageRoleAssistant {
		return nil, apierr.Validation(api.FieldError{Field: "body.parent_id",
			Message: "must be an assistant message; to edit a message, send its new text under its parent"})
	}
	return &m.ID, nil
}

// newUserMessage is the message a send stores (not yet stored), under the parent its body
// names.
func (c *Chat) newUserMessage(ctx context.Context, conv db.Conversation, body api.SendMessageRequest) (db.Message, error) {
	parent, err := c.parentFor(ctx, conv, body.ParentId)
	if err != nil {
		return db.Message{}, err
	}
	fileIDs := []uuid.UUID{}
	if body.FileIds != nil {
		fileIDs = *body.FileIds
	}
	id := database.NewID()
	if parent != nil {
		id = database.NewIDAfter(*parent)
	}
	return db.Message{ID: id, ConversationID: conv.ID, ParentID: parent, Role: db.MessageRoleUser,
		Content: body.Content, Status: db.MessageStatusComplete, FileIds: fileIDs}, nil
}

// start builds the model's request for the user message (the path to its parent is the
// history), admits it under the user's daily token budget (429 quota_exceeded, its
// max_tokens capped to what the budget leaves), stores the user's message when it is new
// (store) and a pending reply under it, which becomes the conversation's current message,
// in one transaction that also enforces one running reply per conversation (409) and the
// user's cap (429), then starts the reply. Nothing is stored for a message that is refused.
// The user's message is committed before the provider is called.
func (c *Chat) start(ctx context.Context, conv db.Conversation, p *auth.Principal, user db.Message, store bool) (db.Message, db.Message, *generation.Run, error) {
	// The files are read before anything is stored: one that cannot be read is a 422.
	docs, err := c.Files.Texts(ctx, p.UserID, user.FileIds)
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
	// The request is built before anything is stored, so that the budget can refuse it first.
	var req llm.Request
	err = recovery.Do(ctx, c.Log, "build the model's request", func() error {
		var err error
		req, err = c.buildRequest(ctx, conv, user.ParentID, user.Content, docs, model)
		return err
	})
	if err != nil {
		return db.Message{}, db.Message{}, nil, err
	}
	grant, err := c.Spending.Admit(ctx, p.UserID, &req)
	if err != nil {
		return db.Message{}, db.Message{}, nil, err
	}
	var assistant db.Message
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
		if store {
			user, err = c.Q.CreateMessage(ctx, tx, db.CreateMessageParams{ID: user.ID, ConversationID: conv.ID,
				ParentID: user.ParentID, Role: user.Role, Content: user.Content, Status: user.Status, FileIds: user.FileIds})
			if err != nil {
				return err
			}
		}
		assistant, err = c.Q.CreateMessage(ctx, tx, db.CreateMessageParams{ID: database.NewIDAfter(user.ID), ConversationID: conv.ID,
			ParentID: &user.ID, Role: db.MessageRoleAssistant, Status: db.MessageStatusPending, Model: &model, FileIds: []uuid.UUID{}})
		if database.IsUniqueViolation(err, "messages_one_generation_idx") {
			return apierr.Conflict("a reply is already being generated in this conversation; wait for it or cancel it")
		}
		if err != nil {
			return err
		}
		return c.Q.TouchConversation(ctx, tx, db.TouchConversationParams{
			CurrentMessageID: &assistant.ID, DerivedTitle: deriveTitle(user.Content), ID: conv.ID})
	})
	if err != nil {
		grant.Release()
		return db.Message{}, db.Message{}, nil, err
	}
	// The message and its pending reply are committed: the reply starts even if the client
	// has just gone (a pending reply that never runs would block the conversation).
	run := c.Generations.Start(ctx, user, assistant, req, grant.Record)
	return user, assistant, run, nil
}

// send stores the user's message and starts the reply to it.
func (c *Chat) send(ctx context.Context, convID uuid.UUID, body api.SendMessageRequest) (db.Message, *generation.Run, error) {
	conv, p, err := c.conversation(ctx, convID)
	if err != nil {
		return db.Message{}, nil, err
	}
	user, err := c.newUserMessage(ctx, conv, body)
	if err != nil {
		return db.Message{}, nil, err
	}
	user, _, run, err := c.start(ctx, conv, p, user, true)
	return user, run, err
}

// reply waits for the run's final state: the stored reply, or the 502 of a failed one.
// The reply does not depend on this request: if the client leaves, it still completes.
func (c *Chat) reply(ctx context.Context, run *generation.Run) (api.Message, error) {
	select {
	case <-run.Done():
	case <-ctx.Done():
		return api.Message{}, ctx.Err()
	}
	reply := run.Final()
	if reply.Status == db.MessageStatusFailed {
		return api.Message{}, upstreamError(reply)
	}
	return c.apiMessage(ctx, reply)
}

// SendMessage stores the message and answers once the reply is complete.
func (c *Chat) SendMessage(ctx context.Context, req api.SendMessageRequestObject) (api.SendMessageResponseObject, error) {
	user, run, err := c.send(ctx, req.ConversationId, *req.Body)
	if err != nil {
		return nil, err
	}
	reply, err := c.reply(ctx, run)
	if err != nil {
		return nil, err
	}
	userOut, err := c.apiMessage(ctx, user)
	if err != nil {
		return nil, err
	}
	return api.SendMessage201JSONResponse{UserMessage: userOut, AssistantMessage: reply}, nil
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
	_, run, err := c.send(ctx, req.ConversationId, api.SendMessageRequest(*req.Body))
	if err != nil {
		release()
		return nil, err
	}
	return c.stream(ctx, release, followRun(run, c.Heartbeat)), nil
}

// followRun follows a run of this process from its first event.
func followRun(run *generation.Run, heartbeat time.Duration) followFunc {
	return func(ctx context.Context, emit func(generation.Event) error, ping func() error) error {
		return run.Follow(ctx, -1, heartbeat, emit, ping)
	}
}

// CancelMessage stops a reply and answers with it as stored.
func (c *Chat) CancelMessage(ctx context.Context, req api.CancelMessageRequestObject) (api.CancelMessageResponseObject, error) {
	m, err := c.message(ctx, req.ConversationId, req.MessageId)
	if err != nil {
		return nil, err
	}
	if final(m.Status) {
		return c.cancelled(ctx, m)
	}
	stored, local, err := c.Generations.Cancel(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	if local {
		return c.cancelled(ctx, stored)
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
			return c.cancelled(ctx, m)
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
			return c.cancelled(ctx, m)
		case <-done.C:
			fallback.Reset(c.Notify.Fallback())
		case <-fallback.C:
			fallback.Reset(c.Notify.Fallback())
		}
	}
}

// cancelled is the answer of CancelMessage: the reply as stored.
func (c *Chat) cancelled(ctx context.Context, m db.Message) (api.CancelMessageResponseObject, error) {
	out, err := c.apiMessage(ctx, m)
	if err != nil {
		return nil, err
	}
	return api.CancelMessage200JSONResponse(out), nil
}
