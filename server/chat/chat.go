// Package chat implements the conversations, messages and models operations: the
// conversations themselves, sending messages (plainly or as a stream of server-sent
// events), re-attaching to and cancelling replies. The replies run in package generation.
package chat

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/files"
	"assistant/server/generation"
	"assistant/server/llm"
	"assistant/server/metrics"
	"assistant/server/notify"
	"assistant/server/usage"
)

// Chat implements the conversations, messages and models operations.
type Chat struct {
	DB          database.DB
	Q           *db.Queries
	Generations *generation.Manager
	Files       *files.Files // the text of the files a message attaches
	// Spending says which models may be chosen, caps each reply and records its tokens
	// against the user's daily budget.
	Spending *usage.Usage
	// ContextTokens is the budget for the system prompt and history sent to the model.
	ContextTokens int
	// PerUser caps a user's concurrent generations.
	PerUser int
	// StreamsPerUser caps a user's open event streams on this process (0: no cap).
	StreamsPerUser int
	// Notify wakes followers of replies running on other replicas (nil: they poll).
	Notify *notify.Listener
	// Metrics count the open event streams (nil: not counted).
	Metrics   *metrics.Metrics
	streams   streamSlots
	Heartbeat time.Duration
	Log       *slog.Logger
}

// conversation loads the user's conversation; someone else's is 404 like a missing one.
func (c *Chat) conversation(ctx context.Context, id uuid.UUID) (db.Conversation, *auth.Principal, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return db.Conversation{}, nil, err
	}
	conv, err := c.Q.GetConversation(ctx, c.DB, id, p.UserID)
	if database.IsNoRows(err) {
		return db.Conversation{}, nil, apierr.ErrNotFound
	}
	return conv, p, err
}

// message loads an assistant or user message of the user's conversation, or 404.
func (c *Chat) message(ctx context.Context, convID, msgID uuid.UUID) (db.Message, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return db.Message{}, err
	}
	m, err := c.Q.GetMessage(ctx, c.DB, db.GetMessageParams{ID: msgID, ConversationID: convID, UserID: p.UserID})
	if database.IsNoRows(err) {
		return db.Message{}, apierr.ErrNotFound
	}
	return m, err
}

// final tells whether a reply has ended.
func final(status db.MessageStatus) bool {
	return status == db.MessageStatusComplete || status == db.MessageStatusFailed || status == db.MessageStatusCancelled
}

// upstreamError is the 502 for a reply that failed.
func upstreamError(reply db.Message) *apierr.Error {
	return apierr.New(http.StatusBadGateway, api.ErrorBodyCodeUpstreamError, failureText(reply))
}

// failureText says why a failed reply failed: the one wording of the 502 and of the
// stream's error event.
func failureText(reply db.Message) string {
	code := "internal"
	if reply.ErrorCode != nil {
		code = *reply.ErrorCode
	}
	return "the AI provider failed (" + code + "); the partial reply is stored"
}

// deriveTitle names a conversation after its first message: its first line, cut at a word
// boundary near 60 characters.
func deriveTitle(content string) string {
	s := strings.Join(strings.Fields(content), " ")
	if utf8.RuneCountInString(s) <= 60 {
		return s
	}
	r := []rune(s)[:60]
	cut := string(r)
	if i := strings.LastIndex(cut, " "); i > 30 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}

// estimateTokens is llm.EstimateTokens: the context budget and the usage of replies whose
// provider reports none use the same estimate.
func estimateTokens(s string) int { return llm.EstimateTokens(s) }

// buildRequest is the system prompt, then the newest history that fits the budget (the
// path from the root to parent, the message answered, none when nil), then the user's
// message (always sent, whatever its size) preceded by the text of its files, each
// delimited and named, cut to what the budget leaves.
func (c *Chat) buildRequest(ctx context.Context, conv db.Conversation, parent *uuid.UUID, content string, docs []files.Doc, model string) (llm.Request, error) {
	budget := c.ContextTokens - estimateTokens(content)
	var system []llm.Message
	if conv.SystemPrompt != nil && *conv.SystemPrompt != "" {
		system = append(system, llm.Message{Role: llm.RoleSystem, Content: *conv.SystemPrompt})
		budget -= estimateTokens(*conv.SystemPrompt)
	}
	var rows []db.ContextMessagesRow
	if parent != nil {
		var err error
		rows, err = c.Q.ContextMessages(ctx, c.DB, db.ContextMessagesParams{TipID: *parent, ConversationID: conv.ID, MaxMessages: 500})
		if err != nil {
			return llm.Request{}, err
		}
	}
	var history []llm.Message
	for _, r := range rows { // newest first
		cost := estimateTokens(r.Content)
		if cost > budget {
			break
		}
		budget -= cost
		history = append(history, llm.Message{Role: string(r.Role), Content: r.Content})
	}
	msgs := system
	for i := len(history) - 1; i >= 0; i-- {
		msgs = append(msgs, history[i])
	}
	msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: withFiles(docs, content, budget)})
	return llm.Request{Model: model, Messages: msgs}, nil
}

// withFiles puts the files' text before the message. Files come first in the budget (the
// user attached them to this message); history gets what is left.
func withFiles(docs []files.Doc, content string, budget int) string {
	if len(docs) == 0 {
		return content
	}
	var b strings.Builder
	chars := max(budget, 0) * 4
	for _, d := range docs {
		text := d.Text
		if len(text) > chars {
			cut := chars
			for cut > 0 && !utf8.RuneStart(text[cut]) {
				cut--
			}
			text = text[:cut] + "\n[… the rest of the file did not fit]"
			chars = 0
		} else {
			chars -= len(text)
		}
		if d.Truncated != "" {
			// Only part of the file was read (package files): the model is told which.
			text += "\n[truncated: " + d.Truncated + "]"
		}
		fmt.Fprintf(&b, "<file name=%q>\n%s\n</file>\n\n", d.Name, text)
	}
	b.WriteString(content)
	return b.String()
}
