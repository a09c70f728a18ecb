package chat_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
)

// fieldError requires a 422 naming field.
func fieldError(t *testing.T, r *apitest.Response, field string) {
	t.Helper()
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("want 422 naming %s: %d %s", field, r.StatusCode, r.Body)
	}
	e := r.Envelope(t)
	if e.Details == nil || len(*e.Details) == 0 || (*e.Details)[0].Field != field {
		t.Fatalf("want 422 naming %s: %s", field, r.Body)
	}
}

// usageReport reads GET /users/me/usage.
func (f *fixture) usage(token string) api.UsageReport {
	f.t.Helper()
	r := f.env.As(token, http.MethodGet, "/api/v1/users/me/usage", nil)
	if r.StatusCode != http.StatusOK {
		f.t.Fatalf("usage: %d %s", r.StatusCode, r.Body)
	}
	var u api.UsageReport
	r.JSON(f.t, &u)
	return u
}

// estimate is the server's estimate of a request's prompt (llm.EstimatePrompt) from what the
// fake received.
func estimate(req fakeopenai.Request) int64 {
	var n int64
	for _, m := range req.Messages {
		n += int64(llm.EstimateTokens(m.Content))
	}
	return n
}

// With LLM_MODELS, a conversation may choose only those (and the default model); anything
// else is a 422 naming body.model, and GET /models lists exactly them.
func TestModelsLimitedByLLMModels(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.LLMModels = []string{"fake-large", "local-only"} })

	r := f.call(http.MethodPost, "/api/v1/conversations", map[string]any{"model": "gpt-4o"})
	fieldError(t, r, "body.model")
	for _, m := range []string{"fake-large", "local-only", "fake-model"} { // fake-model is the default
		if c := f.newConversation(f.token, map[string]any{"model": m}); c.Model == nil || *c.Model != m {
			t.Errorf("model %s: %+v", m, c)
		}
	}
	path := "/api/v1/conversations/" + f.conv.Id.String()
	fieldError(t, f.call(http.MethodPatch, path, map[string]any{"model": "fake-large "}), "body.model")
	if r := f.call(http.MethodPatch, path, map[string]any{"model": "local-only"}); r.StatusCode != http.StatusOK {
		t.Fatalf("patch to an allowed model: %d %s", r.StatusCode, r.Body)
	}
	if r := f.call(http.MethodPatch, path, map[string]any{"model": ""}); r.StatusCode != http.StatusOK {
		t.Fatalf("patch back to the default: %d %s", r.StatusCode, r.Body)
	}

	var l api.ModelList
	r = f.call(http.MethodGet, "/api/v1/models", nil)
	r.JSON(t, &l)
	var ids []string
	for _, m := range l.Items {
		ids = append(ids, m.Id)
	}
	if r.StatusCode != http.StatusOK || strings.Join(ids, ",") != "fake-model,fake-large,local-only" || l.DefaultModel != "fake-model" {
		t.Fatalf("models: %d %s", r.StatusCode, r.Body)
	}
	// The list is the setting's: the provider is not asked.
	f.fake.ModelsFail.Store(true)
	if r := f.call(http.MethodGet, "/api/v1/models", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("models with the provider's list down: %d %s", r.StatusCode, r.Body)
	}

	// A conversation whose model is no longer allowed (LLM_MODELS changed) cannot send.
	if _, err := f.env.Pool.Exec(context.Background(), "UPDATE conversations SET model = 'retired' WHERE id = $1", f.conv.Id); err != nil {
		t.Fatal(err)
	}
	fieldError(t, f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "hi"}), "path.conversation_id")
	fieldError(t, f.call(http.MethodPost, f.convPath("/messages/stream"), map[string]any{"content": "hi"}), "path.conversation_id")
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("the provider got %d requests", n)
	}
}

// Without LLM_MODELS, the allowed models are what the provider lists; when it cannot list
// them, a model other than the default cannot be checked (503), the default still can.
func TestModelsFromTheProvider(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.fake.ModelsFail.Store(true)
	r := f.call(http.MethodPost, "/api/v1/conversations", map[string]any{"model": "fake-large"})
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || strings.Contains(string(r.Body), "secret") {
		t.Fatalf("create with the provider's list down: %d %s", r.StatusCode, r.Body)
	}
	f.newConversation(f.token, map[string]any{"model": "fake-model"})

	f.fake.ModelsFail.Store(false)
	f.newConversation(f.token, map[string]any{"model": "fake-large"})
	fieldError(t, f.call(http.MethodPost, "/api/v1/conversations", map[string]any{"model": "gpt-4o"}), "body.model")
	// Listed once, the list serves while the provider is down again.
	f.fake.ModelsFail.Store(true)
	f.newConversation(f.token, map[string]any{"model": "fake-large"})
	fieldError(t, f.call(http.MethodPatch, "/api/v1/conversations/"+f.conv.Id.String(), map[string]any{"model": "gpt-4o"}), "body.model")
}

// Hostile model names are refused with a 422, never stored, never a 500.
func TestHostileModelNames(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.LLMModels = []string{"fake-large"} })
	path := "/api/v1/conversations/" + f.conv.Id.String()
	for _, m := range []string{"🤖", "模型", "fake-large\u0000", "fake\u202elarge", "fake-large\u200b", "ＦＡＫＥ-LARGE", strings.Repeat("模", 200), "../../v1/models", "fake-model\n"} {
		for _, r := range []*apitest.Response{
			f.call(http.MethodPost, "/api/v1/conversations", map[string]any{"model": m}),
			f.call(http.MethodPatch, path, map[string]any{"model": m}),
		} {
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("model %q: %d %s", m, r.StatusCode, r.Body)
			}
		}
	}
	var n int
	if err := f.env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM conversations WHERE model IS NOT NULL").Scan(&n); err != nil || n != 0 {
		t.Errorf("conversations with a model: %d %v", n, err)
	}
}

// LLM_MAX_TOKENS reaches the provider as max_tokens, with the request for usage; the reply
// stops there.
func TestMaxTokensReachesTheProvider(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *configT) { c.LLMMaxTokens = 2 })
	r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "hi"})
	var ex api.Exchange
	r.JSON(t, &ex)
	if r.StatusCode != http.StatusCreated || ex.AssistantMessage.Content != "Hello, world" ||
		ex.AssistantMessage.FinishReason == nil || *ex.AssistantMessage.FinishReason != "length" {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 1 || reqs[0].MaxTokens == nil || *reqs[0].MaxTokens != 2 || reqs[0].StreamOptions == nil || !reqs[0].StreamOptions.IncludeUsage {
		t.Fatalf("the provider got %+v", reqs)
	}
}

// The echo provider honours the cap too (a word is a token there).
func TestMaxTokensEcho(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *configT) { c.LLMMaxTokens = 3 }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	var conv api.Conversation
	env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{}).JSON(t, &conv)
	r := env.As(token, http.MethodPost, "/api/v1/conversations/"+conv.Id.String()+"/messages", map[string]any{"content": "hi"})
	var ex api.Exchange
	r.JSON(t, &ex)
	if r.StatusCode != http.StatusCreated || ex.AssistantMessage.Content != "This is the " ||
		*ex.AssistantMessage.FinishReason != "length" || ex.AssistantMessage.Usage.CompletionTokens != 3 {
		t.Fatalf("send: %d %s", r.StatusCode, r.Body)
	}
}

// Each reply's tokens are recorded for its user, day and model: the provider's usage when it
// reports one, else the estimate (also for a cancelled reply); a reply the provider refused
// before any text costs nothing.
func TestUsageRecordedPerReply(t *testing.T) {
	t.Parallel()
	f := setup(t)
	send := func(content string) {
		t.Helper()
		if r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": content}); r.StatusCode != http.StatusCreated {
			t.Fatalf("send: %d %s", r.StatusCode, r.Body)
		}
	}
	send("first")
	u := f.usage(f.token)
	today := time.Now().UTC().Format(time.DateOnly)
	if len(u.Items) != 1 || u.Items[0].Day.String() != today || u.Items[0].Model != "fake-model" || u.Items[0].PromptTokens != 7 ||
		u.Items[0].CompletionTokens != 3 || u.Items[0].Replies != 1 || u.Budget.UsedToday != 10 || u.Budget.DailyTokens != nil {
		t.Fatalf("after the provider's usage: %+v", u)
	}

	// No usage reported: the estimate, four characters a token.
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"Hello", ", world", "!"}, NoUsage: true})
	send("second")
	reqs := f.fake.Requests()
	prompt := estimate(reqs[1])
	completion := int64(llm.EstimateTokens("Hello, world!"))
	u = f.usage(f.token)
	if len(u.Items) != 1 || u.Items[0].PromptTokens != 7+prompt || u.Items[0].CompletionTokens != 3+completion || u.Items[0].Replies != 2 {
		t.Fatalf("after an estimated reply (prompt %d, completion %d): %+v", prompt, completion, u)
	}

	// A cancelled reply: what was generated was paid for.
	f.fake.Set(fakeopenai.Behavior{Mode: fakeopenai.Stall, Chunks: []string{"partial ", "never"}})
	s := f.stream("third")
	var first struct {
		AssistantMessageID string `json:"assistant_message_id"`
	}
	s.MustNext(t).Decode(t, &first)
	s.MustNext(t) // the first delta
	if r := f.call(http.MethodPost, f.convPath("/messages/"+first.AssistantMessageID+"/cancel"), nil); r.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.StatusCode, r.Body)
	}
	prompt3 := estimate(f.fake.Requests()[2])
	u = f.usage(f.token)
	if u.Items[0].PromptTokens != 7+prompt+prompt3 || u.Items[0].CompletionTokens != 3+completion+int64(llm.EstimateTokens("partial ")) || u.Items[0].Replies != 3 {
		t.Fatalf("after a cancelled reply: %+v", u)
	}
	before := u.Budget.UsedToday

	// Refused by the provider before any text: nothing is counted.
	f.fake.Set(fakeopenai.Behavior{Mode: fakeopenai.Status500, Chunks: []string{"x"}})
	if r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "fourth"}); r.StatusCode != http.StatusBadGateway {
		t.Fatalf("send to a failing provider: %d %s", r.StatusCode, r.Body)
	}
	if u := f.usage(f.token); u.Budget.UsedToday != before || u.Items[0].Replies != 3 {
		t.Fatalf("a refused reply was counted: %+v", u)
	}
}

// The daily budget caps each reply's max_tokens to what it leaves, refuses the reply that
// would cross it (429 quota_exceeded, Retry-After until the next UTC midnight) after
// earlier replies passed, stores nothing for it, and is not given back by deleting the
// conversation.
func TestDailyBudget(t *testing.T) {
	t.Parallel()
	const budget = 30
	f := setup(t, func(c *configT) { c.UserDailyTokenBudget = budget })

	// The first reply: max_tokens is what the budget leaves after the prompt's estimate.
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"Hello", ", world", "!"}, PromptTokens: 20})
	if r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "hi"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("first send: %d %s", r.StatusCode, r.Body)
	}
	req := f.fake.Requests()[0]
	if want := budget - int(estimate(req)); req.MaxTokens == nil || *req.MaxTokens != want {
		t.Fatalf("max_tokens %v, want %d", req.MaxTokens, want)
	}
	u := f.usage(f.token)
	if u.Budget.UsedToday != 23 || u.Budget.DailyTokens == nil || *u.Budget.DailyTokens != budget {
		t.Fatalf("usage: %+v", u)
	}
	if !u.Budget.ResetsAt.Equal(time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)) && time.Now().UTC().Hour() != 0 {
		t.Errorf("resets_at %s", u.Budget.ResetsAt)
	}

	// The next message with its history would cross the budget: refused, on both endpoints.
	for _, path := range []string{"/messages", "/messages/stream"} {
		r := f.call(http.MethodPost, f.convPath(path), map[string]any{"content": "and now?"})
		quotaExceeded(t, r)
	}
	var l api.MessageList
	f.call(http.MethodGet, f.convPath("/messages"), nil).JSON(t, &l)
	if len(l.Items) != 2 || len(f.fake.Requests()) != 1 {
		t.Fatalf("a refused message was stored or sent: %d messages, %d requests", len(l.Items), len(f.fake.Requests()))
	}

	// Deleting the conversation gives nothing back: a new one's message that fits what is
	// left (7) passes no more than it did.
	if r := f.call(http.MethodDelete, f.convPath(""), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if u := f.usage(f.token); u.Budget.UsedToday != 23 {
		t.Fatalf("after the delete: %+v", u)
	}
	f.conv = f.newConversation(f.token, map[string]any{})
	quotaExceeded(t, f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": strings.Repeat("word ", 8)}))
	// A short one still fits, capped at what is left: its reply is cut short.
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"a", "b", "c", "d", "e", "f"}, PromptTokens: 4})
	r := f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "ok"})
	var ex api.Exchange
	r.JSON(t, &ex)
	if r.StatusCode != http.StatusCreated || ex.AssistantMessage.Content != "abc" || *ex.AssistantMessage.FinishReason != "length" {
		t.Fatalf("short send: %d %s", r.StatusCode, r.Body)
	}
	if u := f.usage(f.token); u.Budget.UsedToday != budget {
		t.Fatalf("the budget is not exactly used: %+v", u)
	}
	// Used up: even the smallest message is refused.
	quotaExceeded(t, f.call(http.MethodPost, f.convPath("/messages"), map[string]any{"content": "."}))

	// Another user has their own budget; one whose usage overshot (the provider counted
	// more than the estimate) is refused at once.
	other := f.env.Register("bob@example.com", "correct horse battery").AccessToken
	conv := f.newConversation(other, map[string]any{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"x"}, PromptTokens: 100})
	if r := f.env.As(other, http.MethodPost, "/api/v1/conversations/"+conv.Id.String()+"/messages", map[string]any{"content": "hi"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("other user's send: %d %s", r.StatusCode, r.Body)
	}
	quotaExceeded(t, f.env.As(other, http.MethodPost, "/api/v1/conversations/"+conv.Id.String()+"/messages", map[string]any{"content": "hi"}))
}

func quotaExceeded(t *testing.T, r *apitest.Response) {
	t.Helper()
	if r.StatusCode != http.StatusTooManyRequests || r.Envelope(t).Code != api.ErrorBodyCodeQuotaExceeded {
		t.Fatalf("want 429 quota_exceeded: %d %s", r.StatusCode, r.Body)
	}
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 86400 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
}

// Replies running at once share the budget: a running reply holds its prompt and its
// max_tokens until it ends, so a second one is refused (with a short Retry-After) while the
// first holds the rest, and gets what the first did not use once it has ended.
func TestDailyBudgetWithRunningReplies(t *testing.T) {
	t.Parallel()
	const budget = 30
	f := setup(t, func(c *configT) { c.UserDailyTokenBudget = budget })
	step := make(chan struct{})
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"Hello", ", world", "!"}, Step: step})
	s := f.stream("hi")
	s.MustNext(t) // the message event
	s.MustNext(t) // the first delta: the reply runs, holding 30 of 30
	if req := f.fake.Requests()[0]; req.MaxTokens == nil || *req.MaxTokens != budget-int(estimate(req)) {
		t.Fatalf("max_tokens %v", req.MaxTokens)
	}

	second := f.newConversation(f.token, map[string]any{})
	path := "/api/v1/conversations/" + second.Id.String() + "/messages"
	r := f.call(http.MethodPost, path, map[string]any{"content": "hi"})
	quotaExceeded(t, r)
	if r.Header.Get("Retry-After") != "5" || !strings.Contains(r.Envelope(t).Message, "being generated") {
		t.Fatalf("refused while the first reply holds the budget: %s %s", r.Header.Get("Retry-After"), r.Body)
	}

	for range 3 {
		step <- struct{}{}
	}
	if evs := s.Rest(t); len(evs) == 0 || evs[len(evs)-1].Name != "done" {
		t.Fatalf("the first reply: %+v", evs)
	}
	// It used 7 + 3: the second reply gets what is left after its prompt.
	f.fake.Set(fakeopenai.Behavior{Chunks: []string{"ok"}})
	if r := f.call(http.MethodPost, path, map[string]any{"content": "hi"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("second send: %d %s", r.StatusCode, r.Body)
	}
	if req := f.fake.Requests()[1]; req.MaxTokens == nil || *req.MaxTokens != budget-10-int(estimate(req)) {
		t.Fatalf("max_tokens %v", req.MaxTokens)
	}
}
