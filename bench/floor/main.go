// Command floor is the benchmarks' floor: the same answers as the API for the measured
// operations (the same JSON, the same SQL through pgx, the same JWT check), with plain
// net/http and nothing else: no framework, no validation, no logging.
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/auth"
	"assistant/server/database"
)

func main() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	q := db.New()
	tokens := auth.NewTokens([]byte(os.Getenv("JWT_SECRET")), 15*time.Minute)
	user := func(r *http.Request) (*auth.Claims, bool) {
		c, err := tokens.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		return c, err == nil
	}
	send := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/models", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := user(r); !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		send(w, http.StatusOK, api.ModelList{Items: []api.ModelInfo{{Id: "echo"}}, DefaultModel: "echo"})
	})
	mux.HandleFunc("POST /api/v1/conversations", func(w http.ResponseWriter, r *http.Request) {
		c, ok := user(r)
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body api.CreateConversationRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p := db.CreateConversationParams{ID: database.NewID(), UserID: mustUUID(c.Subject), SystemPrompt: body.SystemPrompt, Model: body.Model}
		if body.Title != nil {
			p.Title, p.TitleSet = *body.Title, true
		}
		conv, err := q.CreateConversation(r.Context(), pool, p)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		send(w, http.StatusCreated, api.Conversation{Id: conv.ID, Title: conv.Title, SystemPrompt: conv.SystemPrompt, Model: conv.Model,
			CreatedAt: conv.CreatedAt, UpdatedAt: conv.UpdatedAt, LastMessageAt: conv.LastMessageAt})
	})
	mux.HandleFunc("GET /api/v1/conversations", func(w http.ResponseWriter, r *http.Request) {
		c, ok := user(r)
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rows, err := q.ListConversations(r.Context(), pool, db.ListConversationsParams{UserID: mustUUID(c.Subject), PageSize: 21})
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		out := api.ConversationList{Items: []api.Conversation{}}
		for i, conv := range rows {
			if i == 20 {
				s := "next"
				out.NextCursor = &s
				break
			}
			out.Items = append(out.Items, api.Conversation{Id: conv.ID, Title: conv.Title, SystemPrompt: conv.SystemPrompt, Model: conv.Model,
				CreatedAt: conv.CreatedAt, UpdatedAt: conv.UpdatedAt, LastMessageAt: conv.LastMessageAt})
		}
		send(w, http.StatusOK, out)
	})
	srv := &http.Server{Addr: os.Getenv("HTTP_ADDR"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}
