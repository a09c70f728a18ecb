package imports

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// element is one top-level value of an export file, decoded once into the fields of all
// three formats: which of them it has tells its format. Fields of the wrong type are left
// empty (the import is lenient: what it cannot read it leaves out, or skips).
type element struct {
	Title *string `json:"title"`

	// ChatGPT (conversations.json)
	CreateTime  stamp              `json:"create_time"`
	UpdateTime  stamp              `json:"update_time"`
	Mapping     map[string]gptNode `json:"mapping"`
	CurrentNode *string            `json:"current_node"`

	// Open WebUI
	Chat      *webuiChat `json:"chat"`
	CreatedAt stamp      `json:"created_at"`
	UpdatedAt stamp      `json:"updated_at"`

	// This API's JSON export
	Format       *string          `json:"format"`
	Conversation *ownConversation `json:"conversation"`
	Messages     []ownMessage     `json:"messages"`
}

type gptNode struct {
	Parent   *string     `json:"parent"`
	Children []string    `json:"children"`
	Message  *gptMessage `json:"message"`
}

type gptMessage struct {
	Author struct {
		Role string `json:"role"`
	} `json:"author"`
	Content struct {
		ContentType string    `json:"content_type"`
		Parts       []gptPart `json:"parts"`
	} `json:"content"`
	CreateTime stamp   `json:"create_time"`
	Recipient  *string `json:"recipient"`
	Metadata   struct {
		Hidden    bool   `json:"is_visually_hidden_from_conversation"`
		ModelSlug string `json:"model_slug"`
	} `json:"metadata"`
}

// gptPart is one part of a ChatGPT message: text, or something else (an image pointer)
// that is left out.
type gptPart struct {
	text string
	ok   bool
}

func (p *gptPart) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		p.ok = json.Unmarshal(b, &p.text) == nil
	}
	return nil
}

type webuiChat struct {
	Title   *string `json:"title"`
	History *struct {
		Messages  map[string]webuiMessage `json:"messages"`
		CurrentID *string                 `json:"currentId"`
	} `json:"history"`
	Messages  []webuiMessage `json:"messages"`
	Timestamp stamp          `json:"timestamp"`
}

type webuiMessage struct {
	ID          string   `json:"id"`
	ParentID    *string  `json:"parentId"`
	ChildrenIDs []string `json:"childrenIds"`
	Role        string   `json:"role"`
	Content     text     `json:"content"`
	Timestamp   stamp    `json:"timestamp"`
	Model       string   `json:"model"`
}

type ownConversation struct {
	Title            string  `json:"title"`
	SystemPrompt     *string `json:"system_prompt"`
	Model            *string `json:"model"`
	CreatedAt        stamp   `json:"created_at"`
	UpdatedAt        stamp   `json:"updated_at"`
	CurrentMessageID *string `json:"current_message_id"`
}

type ownMessage struct {
	ID        string   `json:"id"`
	ParentID  optional `json:"parent_id"`
	Role      string   `json:"role"`
	Content   string   `json:"content"`
	Model     *string  `json:"model"`
	CreatedAt stamp    `json:"created_at"`
}

// optional is a string field that may be absent, null or a string: an export made before
// messages had parents has no parent_id at all.
type optional struct {
	set   bool
	value string
}

func (o *optional) UnmarshalJSON(b []byte) error {
	o.set = true
	if len(b) > 0 && b[0] == '"' {
		_ = json.Unmarshal(b, &o.value)
	}
	return nil
}

// stamp is a time as the formats write it: seconds since 1970 (ChatGPT's floats, Open
// WebUI's integers; milli-, micro- and nanoseconds are told by their size), or an RFC 3339
// string. Anything else is an unknown time (zero).
type stamp struct{ time.Time }

func (s *stamp) UnmarshalJSON(b []byte) error {
	s.Time = parseStamp(b)
	return nil
}

func parseStamp(b []byte) time.Time {
	if len(b) > 0 && b[0] == '"' {
		var str string
		if json.Unmarshal(b, &str) != nil {
			return time.Time{}
		}
		if t, err := time.Parse(time.RFC3339Nano, str); err == nil {
			return plausible(t)
		}
		b = []byte(str)
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return time.Time{}
	}
	for f >= 1e11 { // milliseconds and finer
		f /= 1000
	}
	// PostgreSQL keeps microseconds.
	sec, frac := math.Modf(f)
	return plausible(time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC())
}

// plausible keeps times from 1970 to a day ahead of now (clocks differ): anything else is
// unknown.
func plausible(t time.Time) time.Time {
	if t.Year() < 1970 || t.After(time.Now().Add(24*time.Hour)) {
		return time.Time{}
	}
	return t.UTC()
}

// text is message content as Open WebUI writes it: a string, or a list of parts whose text
// is kept ({"type": "text", "text": "…"} or plain strings).
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		_ = json.Unmarshal(b, &s)
		*t = text(s)
	case '[':
		var parts []json.RawMessage
		if json.Unmarshal(b, &parts) != nil {
			return nil
		}
		var out []string
		for _, p := range parts {
			var s string
			var obj struct {
				Text *string `json:"text"`
			}
			if json.Unmarshal(p, &s) == nil {
				out = append(out, s)
			} else if json.Unmarshal(p, &obj) == nil && obj.Text != nil {
				out = append(out, *obj.Text)
			}
		}
		*t = text(strings.Join(out, "\n"))
	}
	return nil
}

// format names what an element is.
type format int

const (
	unknown format = iota
	chatGPT
	openWebUI
	ownExport
)

func (e *element) format() format {
	switch {
	case e.Mapping != nil:
		return chatGPT
	case e.Chat != nil:
		return openWebUI
	case e.Conversation != nil && e.Messages != nil:
		return ownExport
	}
	return unknown
}

// conversation turns the element into the form every format shares.
func (e *element) conversation() conversation {
	switch e.format() {
	case chatGPT:
		return e.fromChatGPT()
	case openWebUI:
		return e.fromOpenWebUI()
	default:
		return e.fromOwnExport()
	}
}

// fromChatGPT keeps user and assistant messages with text; system, tool and hidden nodes
// (and the empty root) are left out, their children attached to the nearest kept ancestor.
func (e *element) fromChatGPT() conversation {
	c := conversation{created: e.CreateTime.Time, updated: e.UpdateTime.Time}
	if e.Title != nil {
		c.title = *e.Title
	}
	if e.CurrentNode != nil {
		c.current = *e.CurrentNode
	}
	// Siblings keep their order in their parent's children list.
	position := map[string]int{}
	for _, n := range e.Mapping {
		for i, child := range n.Children {
			position[child] = i
		}
	}
	c.nodes = make([]node, 0, len(e.Mapping))
	for key, n := range e.Mapping {
		nd := node{key: key, order: position[key]}
		if n.Parent != nil {
			nd.parent, nd.hasParent = *n.Parent, true
		}
		if m := n.Message; m != nil {
			nd.created = m.CreateTime.Time
			role := m.Author.Role
			ct := m.Content.ContentType
			if (role == "user" || role == "assistant") && (ct == "text" || ct == "multimodal_text") &&
				!m.Metadata.Hidden && (m.Recipient == nil || *m.Recipient == "all") {
				var parts []string
				for _, p := range m.Content.Parts {
					if p.ok {
						parts = append(parts, p.text)
					}
				}
				if content := strings.Join(parts, "\n"); strings.TrimSpace(content) != "" {
					nd.role, nd.content = role, content
					if role == "assistant" {
						nd.model = m.Metadata.ModelSlug
					}
				}
			}
		}
		c.nodes = append(c.nodes, nd)
	}
	return c
}

// fromOpenWebUI reads the history tree when there is one, else the linear message list.
func (e *element) fromOpenWebUI() conversation {
	ch := e.Chat
	c := conversation{created: e.CreatedAt.Time, updated: e.UpdatedAt.Time}
	switch {
	case ch.Title != nil && *ch.Title != "":
		c.title = *ch.Title
	case e.Title != nil:
		c.title = *e.Title
	}
	if c.created.IsZero() {
		c.created = ch.Timestamp.Time
	}
	keep := func(m webuiMessage, nd *node) {
		nd.created = m.Timestamp.Time
		if (m.Role == "user" || m.Role == "assistant") && strings.TrimSpace(string(m.Content)) != "" {
			nd.role, nd.content = m.Role, string(m.Content)
			if m.Role == "assistant" {
				nd.model = m.Model
			}
		}
	}
	if h := ch.History; h != nil && len(h.Messages) > 0 {
		if h.CurrentID != nil {
			c.current = *h.CurrentID
		}
		position := map[string]int{}
		for _, m := range h.Messages {
			for i, child := range m.ChildrenIDs {
				position[child] = i
			}
		}
		c.nodes = make([]node, 0, len(h.Messages))
		for key, m := range h.Messages {
			nd := node{key: key, order: position[key]}
			if m.ParentID != nil {
				nd.parent, nd.hasParent = *m.ParentID, true
			}
			keep(m, &nd)
			c.nodes = append(c.nodes, nd)
		}
		return c
	}
	c.nodes = make([]node, 0, len(ch.Messages))
	for i, m := range ch.Messages {
		nd := node{key: strconv.Itoa(i), order: i}
		if i > 0 {
			nd.parent, nd.hasParent = strconv.Itoa(i-1), true
		}
		keep(m, &nd)
		c.nodes = append(c.nodes, nd)
	}
	return c
}

// fromOwnExport reads this API's JSON export: the tree when messages carry parent_id,
// else one branch in the order listed. Siblings keep the export's order (creation order).
func (e *element) fromOwnExport() conversation {
	conv := e.Conversation
	c := conversation{title: conv.Title, systemPrompt: conv.SystemPrompt, model: conv.Model,
		created: conv.CreatedAt.Time, updated: conv.UpdatedAt.Time, byOrder: true}
	if conv.CurrentMessageID != nil {
		c.current = *conv.CurrentMessageID
	}
	tree := false
	for _, m := range e.Messages {
		tree = tree || m.ParentID.set
	}
	c.nodes = make([]node, 0, len(e.Messages))
	for i, m := range e.Messages {
		nd := node{key: m.ID, order: i, created: m.CreatedAt.Time}
		if nd.key == "" {
			nd.key = "#" + strconv.Itoa(i)
		}
		switch {
		case tree && m.ParentID.value != "":
			nd.parent, nd.hasParent = m.ParentID.value, true
		case !tree && i > 0:
			nd.parent, nd.hasParent = c.nodes[i-1].key, true
		}
		if m.Role == "user" || m.Role == "assistant" {
			nd.role, nd.content = m.Role, m.Content
			if m.Model != nil {
				nd.model = *m.Model
			}
		}
		c.nodes = append(c.nodes, nd)
	}
	if !tree {
		c.current = ""
	}
	return c
}
