package imports

import (
	"container/heap"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// conversation is an export's conversation in the form every format shares: nodes linked
// to their parents by the source's keys.
type conversation struct {
	title            string
	systemPrompt     *string
	model            *string
	created, updated time.Time // zero: not known
	nodes            []node
	current          string // key of the node shown; "" or unknown: the newest
	byOrder          bool   // siblings follow the source's order only (not its times)
}

type node struct {
	key       string
	parent    string
	hasParent bool
	role      string // "user" or "assistant"; "" for a node left out (its children move up)
	content   string
	model     string
	created   time.Time // zero: not known
	order     int       // position among its siblings (or in the file)
}

// message is a node to store: parent is an index into plan.messages (-1 for a root), always
// smaller than the message's own.
type message struct {
	parent  int
	role    string
	content string
	model   string
	created time.Time
}

// plan is a conversation ready to store: messages parents first, siblings oldest first.
type plan struct {
	title            string
	titleSet         bool
	systemPrompt     *string
	model            *string
	created, updated time.Time
	last             time.Time
	messages         []message
	current          int
}

// rejected is why a conversation is skipped.
type rejected struct{ reason string }

func (r *rejected) Error() string { return r.reason }

func reject(format string, args ...any) error { return &rejected{reason: fmt.Sprintf(format, args...)} }

// plan checks the tree (unique ids, no cycle, size, storable text), drops the nodes that
// are not imported, attaching their children to their nearest kept ancestor, and orders
// the rest parents first.
func (c *conversation) plan(now time.Time) (plan, error) {
	n := len(c.nodes)
	index := make(map[string]int, n)
	for i, nd := range c.nodes {
		if _, dup := index[nd.key]; dup {
			return plan{}, reject("two messages have the id %q", clip(nd.key, 64))
		}
		index[nd.key] = i
	}
	parent := make([]int, n)
	for i, nd := range c.nodes {
		parent[i] = -1
		if p, ok := index[nd.parent]; ok && nd.hasParent {
			parent[i] = p
		}
	}
	// A cycle would leave its messages with no root to hang from.
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]uint8, n)
	var path []int
	for i := range c.nodes {
		j := i
		path = path[:0]
		for j != -1 && state[j] == unseen {
			state[j] = onPath
			path = append(path, j)
			j = parent[j]
		}
		if j != -1 && state[j] == onPath {
			return plan{}, reject("its messages' parent links form a cycle")
		}
		for _, k := range path {
			state[k] = done
		}
	}

	kept := func(i int) bool { return c.nodes[i].role != "" }
	// up[i] is the nearest kept ancestor of i (-1: none), found once per node.
	const unknown = -2
	up := make([]int, n)
	for i := range up {
		up[i] = unknown
	}
	var stack []int
	for i := range c.nodes {
		stack = append(stack[:0], i)
		for up[i] == unknown {
			j := stack[len(stack)-1]
			p := parent[j]
			switch {
			case p == -1:
				up[j] = -1
			case kept(p):
				up[j] = p
			case up[p] != unknown:
				up[j] = up[p]
			default:
				stack = append(stack, p)
				continue
			}
			for k := len(stack) - 2; k >= 0; k-- {
				up[stack[k]] = up[stack[k+1]]
			}
		}
	}

	count := 0
	for i, nd := range c.nodes {
		if !kept(i) {
			continue
		}
		count++
		if count > MaxMessages {
			return plan{}, reject("it has more than %d messages, the most one conversation may have", MaxMessages)
		}
		if strings.IndexByte(nd.content, 0) >= 0 {
			return plan{}, reject("a message contains a NUL character (\\u0000), which cannot be stored")
		}
	}
	if count == 0 {
		return plan{}, reject("it has no user or assistant message with text")
	}

	// Parents first; among the messages ready, the oldest (then the first in the source).
	children := make(map[int][]int, count)
	q := &ready{nodes: c.nodes, byOrder: c.byOrder}
	for i := range c.nodes {
		if !kept(i) {
			continue
		}
		if up[i] == -1 {
			q.items = append(q.items, i)
		} else {
			children[up[i]] = append(children[up[i]], i)
		}
	}
	heap.Init(q)
	p := plan{systemPrompt: cleanOptional(c.systemPrompt, 8000), model: cleanOptional(c.model, 200), current: -1}
	at := make([]int, n)
	for q.Len() > 0 {
		i := heap.Pop(q).(int)
		nd := c.nodes[i]
		m := message{parent: -1, role: nd.role, content: nd.content, model: clip(clean(nd.model), 200), created: nd.created}
		if up[i] != -1 {
			m.parent = at[up[i]]
		}
		if m.created.IsZero() {
			switch {
			case m.parent != -1:
				m.created = p.messages[m.parent].created
			case !c.created.IsZero():
				m.created = c.created
			default:
				m.created = now
			}
		}
		at[i] = len(p.messages)
		p.messages = append(p.messages, m)
		for _, ch := range children[i] {
			heap.Push(q, ch)
		}
	}

	// The branch shown: the current node, or its nearest kept ancestor; else the newest.
	p.current = len(p.messages) - 1
	if i, ok := index[c.current]; ok && c.current != "" {
		if !kept(i) {
			i = up[i]
		}
		if i != -1 {
			p.current = at[i]
		}
	}

	for _, m := range p.messages {
		if m.created.After(p.last) {
			p.last = m.created
		}
	}
	p.created = c.created
	if p.created.IsZero() {
		p.created = p.messages[0].created
	}
	p.updated = c.updated
	if p.updated.IsZero() || p.updated.Before(p.last) {
		p.updated = p.last
	}
	if p.updated.Before(p.created) {
		p.updated = p.created
	}
	p.title = clip(strings.TrimSpace(clean(c.title)), 200)
	if p.title == "" {
		for _, m := range p.messages {
			if m.role == "user" {
				p.title = derivedTitle(m.content)
				break
			}
		}
	}
	p.titleSet = p.title != ""
	return p, nil
}

// ready is the heap of messages whose parent is stored.
type ready struct {
	nodes   []node
	byOrder bool
	items   []int
}

func (r *ready) Len() int { return len(r.items) }
func (r *ready) Less(a, b int) bool {
	x, y := r.nodes[r.items[a]], r.nodes[r.items[b]]
	if !r.byOrder && !x.created.Equal(y.created) {
		return x.created.Before(y.created)
	}
	if x.order != y.order {
		return x.order < y.order
	}
	return x.key < y.key
}
func (r *ready) Swap(a, b int) { r.items[a], r.items[b] = r.items[b], r.items[a] }
func (r *ready) Push(x any)    { r.items = append(r.items, x.(int)) }
func (r *ready) Pop() any {
	x := r.items[len(r.items)-1]
	r.items = r.items[:len(r.items)-1]
	return x
}

// clean makes metadata (titles, model names) storable: NUL characters are removed. (Message
// text is never changed: a conversation with a NUL in a message is skipped.)
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func cleanOptional(s *string, max int) *string {
	if s == nil {
		return nil
	}
	v := clip(clean(*s), max)
	if v == "" {
		return nil
	}
	return &v
}

// clip cuts s to at most max characters.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max])
}

// derivedTitle names an untitled conversation after its first message, as a conversation
// started here is named: the first words, cut near 60 characters.
func derivedTitle(content string) string {
	s := strings.Join(strings.Fields(content), " ")
	if utf8.RuneCountInString(s) <= 60 {
		return s
	}
	cut := string([]rune(s)[:60])
	if i := strings.LastIndex(cut, " "); i > 30 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}
