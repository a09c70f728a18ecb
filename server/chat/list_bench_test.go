package chat_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/server/database"
	"assistant/server/testutil/apitest"
)

// BenchmarkListMessages reads a page of 50 messages through the API in a conversation of
// 100 and of 100,000 messages, at the start and deep inside. Keyset pagination on the
// (conversation_id, id) index makes every page cost the same; compare ns/op in one run.
func BenchmarkListMessages(b *testing.B) {
	env := apitest.New(b, apitest.WithConfig(func(c *configT) { c.LogLevel = 12 }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	ctx := context.Background()
	for _, n := range []int{100, 100_000} {
		r := env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{})
		var c api.Conversation
		r.JSON(b, &c)
		// One branch of n messages, each under the one before, as a long conversation is.
		rows := make([][]any, n)
		now := time.Now()
		var parent *uuid.UUID
		for i := range rows {
			id := database.NewID()
			rows[i] = []any{id, c.Id, parent, "user", fmt.Sprintf("message %d", i), "complete", now, now}
			parent = &id
		}
		if _, err := env.Pool.CopyFrom(ctx, pgx.Identifier{"messages"},
			[]string{"id", "conversation_id", "parent_id", "role", "content", "status", "created_at", "updated_at"}, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		if _, err := env.Pool.Exec(ctx, "UPDATE conversations SET current_message_id = $1 WHERE id = $2", *parent, c.Id); err != nil {
			b.Fatal(err)
		}
		if _, err := env.Pool.Exec(ctx, "ANALYZE messages"); err != nil {
			b.Fatal(err)
		}
		base := "/api/v1/conversations/" + c.Id.String() + "/messages?limit=50"
		deep := base
		// A cursor 90% of the way in.
		var cursorID string
		if err := env.Pool.QueryRow(ctx, "SELECT id::text FROM messages WHERE conversation_id = $1 ORDER BY id OFFSET $2 LIMIT 1",
			c.Id, n*9/10).Scan(&cursorID); err != nil {
			b.Fatal(err)
		}
		deep += "&cursor=" + cursorFor(cursorID)
		for name, path := range map[string]string{"first": base, "deep": deep} {
			var page api.MessageList
			env.As(token, http.MethodGet, path, nil).JSON(b, &page)
			want := 50
			if name == "deep" {
				want = min(50, n-n*9/10-1)
			}
			if len(page.Items) != want {
				b.Fatalf("%s: %d messages on the page, want %d", name, len(page.Items), want)
			}
			b.Run(fmt.Sprintf("messages=%d/%s", n, name), func(b *testing.B) {
				for b.Loop() {
					if r := env.As(token, http.MethodGet, path, nil); r.StatusCode != http.StatusOK {
						b.Fatalf("status %d", r.StatusCode)
					}
				}
			})
		}
	}
}
