package exports

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"assistant/gen/api"
	"assistant/gen/db"
)

// Document is the JSON export: every field of the conversation and of each message as the
// API shows them, so the conversation can be rebuilt from it.
type Document struct {
	Format       string           `json:"format"`
	ExportedAt   time.Time        `json:"exported_at"`
	Conversation api.Conversation `json:"conversation"`
	Messages     []api.Message    `json:"messages"`
}

// DocumentFormat names the JSON export's shape and version.
const DocumentFormat = "assistant.conversation/v1"

func renderJSON(w io.Writer, conv api.Conversation, msgs []api.Message, now time.Time) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Document{Format: DocumentFormat, ExportedAt: now.UTC(), Conversation: conv, Messages: msgs})
}

// renderMarkdown is what a person would paste into notes: a title, then who said what.
func renderMarkdown(w io.Writer, conv db.Conversation, msgs []db.Message, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", conversationTitle(conv))
	fmt.Fprintf(&b, "_Started %s · exported %s · %d messages_\n\n", stamp(conv.CreatedAt), stamp(now), len(msgs))
	if conv.SystemPrompt != nil && *conv.SystemPrompt != "" {
		fmt.Fprintf(&b, "> System prompt: %s\n\n", strings.ReplaceAll(*conv.SystemPrompt, "\n", "\n> "))
	}
	for _, m := range msgs {
		who := "You"
		if m.Role == db.MessageRoleAssistant {
			who = "Assistant"
			if m.Model != nil {
				who += " (" + *m.Model + ")"
			}
		}
		note := ""
		if m.Status != db.MessageStatusComplete {
			note = " · _" + string(m.Status) + "_"
		}
		fmt.Fprintf(&b, "---\n\n**%s** · %s%s\n\n%s\n\n", who, stamp(m.CreatedAt), note, strings.TrimRight(m.Content, "\n"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
