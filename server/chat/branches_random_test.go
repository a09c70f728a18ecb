package chat_test

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/database"
)

// Random sends (after the current message or under a
// random reply), regenerations and switches, some of them at once; after each round the
// listed branch must be exactly the path from the root to current_message_id, found by
// following parent_id, with no message twice and none missing.
func TestRandomBranchOperations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	rng := rand.New(rand.NewPCG(1, 2))
	parent := map[uuid.UUID]*uuid.UUID{}
	role := map[uuid.UUID]api.MessageRole{}
	var all, replies []uuid.UUID
	var mu sync.Mutex
	note := func(m api.Message) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := parent[m.Id]; !ok {
			all = append(all, m.Id)
			if m.Role == api.MessageRoleAssistant {
				replies = append(replies, m.Id)
			}
		}
		parent[m.Id], role[m.Id] = m.ParentId, m.Role
	}
	e := f.sendUnder("start", nil, "ok")
	note(e.UserMessage)
	note(e.AssistantMessage)
	pick := func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return rng.IntN(n)
	}
	op := func(i int) {
		switch k := pick(4); k {
		case 0, 1:
			body := map[string]any{"content": "m"}
			if k == 1 {
				mu.Lock()
				body["parent_id"] = replies[rng.IntN(len(replies))]
				mu.Unlock()
			}
			r := f.call(http.MethodPost, f.convPath("/messages"), body)
			if r.StatusCode == http.StatusCreated {
				var x api.Exchange
				r.JSON(t, &x)
				note(x.UserMessage)
				note(x.AssistantMessage)
			} else if r.StatusCode != http.StatusConflict {
				t.Errorf("send: %d %s", r.StatusCode, r.Body)
			}
		case 2:
			mu.Lock()
			id := all[rng.IntN(len(all))]
			mu.Unlock()
			r := f.call(http.MethodPost, f.convPath("/messages/"+id.String()+"/regenerate"), nil)
			if r.StatusCode == http.StatusCreated {
				var x api.Regenerated
				r.JSON(t, &x)
				note(x.AssistantMessage)
			} else if r.StatusCode != http.StatusConflict {
				t.Errorf("regenerate: %d %s", r.StatusCode, r.Body)
			}
		default:
			mu.Lock()
			id := all[rng.IntN(len(all))]
			mu.Unlock()
			if r := f.call(http.MethodPatch, f.convPath(""), map[string]any{"current_message_id": id}); r.StatusCode != http.StatusOK {
				t.Errorf("switch: %d %s", r.StatusCode, r.Body)
			}
		}
	}
	for round := 0; round < 25; round++ {
		var wg sync.WaitGroup
		n := 1 + pick(3)
		ops := make([]int, n)
		for i := range ops {
			ops[i] = i
		}
		for i := range n {
			if n == 1 {
				op(i)
				continue
			}
			wg.Go(func() { op(i) })
		}
		wg.Wait()
		r := f.call(http.MethodGet, f.convPath(""), nil)
		var c api.Conversation
		r.JSON(t, &c)
		var want []uuid.UUID
		for id := c.CurrentMessageId; id != nil; id = parent[*id] {
			want = append([]uuid.UUID{*id}, want...)
		}
		var got []uuid.UUID
		for _, m := range f.branch(3) {
			got = append(got, m.Id)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: the branch listed is not the path to the current message (-want +got):\n%s", round, diff)
		}
	}
}

// later is a UUIDv7 made ms milliseconds after id: what a replica whose clock is that far
// ahead makes.
func later(id uuid.UUID, ms uint64) uuid.UUID {
	ts := uint64(id[0])<<40 | uint64(id[1])<<32 | uint64(id[2])<<24 | uint64(id[3])<<16 | uint64(id[4])<<8 | uint64(id[5])
	ts += ms
	for i := 0; i < 6; i++ {
		id[i] = byte(ts >> (40 - 8*i))
	}
	return id
}

// With several replicas, a message's UUIDv7 comes from the clock of the replica that made
// it. A reply made by a replica an hour ahead, answered here: the new messages still get ids
// above their parents' (the path is ordered and kept by id), so the branch lists in order
// and switching back leaves nothing behind.
func TestClockSkewBetweenReplicas(t *testing.T) {
	t.Parallel()
	f := setup(t)
	e := f.sendUnder("hello", nil, "hi")
	// A send served by a replica an hour ahead: a user message under the reply and its answer.
	u2 := later(database.NewID(), 3_600_000)
	a2 := later(database.NewID(), 3_600_001)
	ctx := t.Context()
	for _, m := range []struct {
		id, parent uuid.UUID
		role       string
	}{{u2, e.AssistantMessage.Id, "user"}, {a2, u2, "assistant"}} {
		if _, err := f.env.Pool.Exec(ctx, `INSERT INTO messages (id, conversation_id, parent_id, role, status, content)
			VALUES ($1, $2, $3, $4, 'complete', 'from the replica ahead')`, m.id, f.conv.Id, m.parent, m.role); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.env.Pool.Exec(ctx, `UPDATE conversations SET current_message_id = $1 WHERE id = $2`, a2, f.conv.Id); err != nil {
		t.Fatal(err)
	}
	// Answered here, an hour behind that replica.
	e3 := f.sendUnder("and then?", &a2, "then this")
	ids := func() []uuid.UUID {
		var out []uuid.UUID
		for _, m := range f.branch(20) {
			out = append(out, m.Id)
		}
		return out
	}
	want := []uuid.UUID{e.UserMessage.Id, e.AssistantMessage.Id, u2, a2, e3.UserMessage.Id, e3.AssistantMessage.Id}
	if diff := cmp.Diff(want, ids()); diff != "" {
		t.Errorf("the branch, root first (-want +got):\n%s", diff)
	}
	f.switchTo(e.AssistantMessage.Id)
	if diff := cmp.Diff([]uuid.UUID{e.UserMessage.Id, e.AssistantMessage.Id}, ids()); diff != "" {
		t.Errorf("after switching back to the first reply (-want +got):\n%s", diff)
	}
}
