package assistant_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"assistant/sdk/go/assistant"
	"assistant/server/httpapi"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
)

// TestJourney is what a Go program does with the SDK, against the real server: every
// response it gets is also checked against the spec, and the streamed reply loses its
// connection mid-way.
func TestJourney(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fake := fakeopenai.New(t)
	env := apitest.New(t, apitest.WithProvider(llm.NewOpenAI(fake.BaseURL(), "test-key", "fake-model", 5*time.Second)))
	rec := &recorder{t: t, env: env, next: env.Client.Transport}
	hc := &http.Client{Transport: rec}
	base := env.Server.URL + httpapi.BasePath
	const password = "correct horse battery"

	var saved []assistant.Session
	c, err := assistant.New(base, assistant.WithHTTP(hc), assistant.OnSession(func(s assistant.Session) { saved = append(saved, s) }))
	if err != nil {
		t.Fatal(err)
	}

	// Register: the client keeps the session and reports it.
	s, err := c.Register(ctx, assistant.RegisterRequest{Email: "ada@example.com", Password: password})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if diff := cmp.Diff([]string{s.RefreshToken}, refreshTokens(saved)); diff != "" {
		t.Errorf("sessions reported (-want +got):\n%s", diff)
	}
	me, err := c.GetMeWithResponse(ctx)
	if err != nil {
		t.Fatalf("me: %v", err)
	}
	if diff := cmp.Diff("ada@example.com", string(me.JSON200.Email)); diff != "" {
		t.Errorf("me (-want +got):\n%s", diff)
	}

	t.Run("refresh", func(t *testing.T) {
		// A second sign-in whose access token the server refuses: the client refreshes once
		// and repeats the call.
		other, err := assistant.New(base, assistant.WithHTTP(hc))
		if err != nil {
			t.Fatal(err)
		}
		first, err := other.Login(ctx, "ada@example.com", password)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		var rotated []assistant.Session
		stale, err := assistant.New(base, assistant.WithHTTP(hc),
			assistant.WithSession(assistant.Session{AccessToken: first.AccessToken + "x", RefreshToken: first.RefreshToken}),
			assistant.OnSession(func(s assistant.Session) { rotated = append(rotated, s) }))
		if err != nil {
			t.Fatal(err)
		}
		before := rec.count("/auth/refresh")
		me, err := stale.GetMeWithResponse(ctx)
		if err != nil {
			t.Fatalf("me with a refused access token: %v", err)
		}
		if diff := cmp.Diff("ada@example.com", string(me.JSON200.Email)); diff != "" {
			t.Errorf("me (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(1, rec.count("/auth/refresh")-before); diff != "" {
			t.Errorf("refreshes (-want +got):\n%s", diff)
		}
		if len(rotated) != 1 || rotated[0].RefreshToken == first.RefreshToken {
			t.Fatalf("the refreshed session was not reported: %+v", rotated)
		}

		// The refresh token that was used is dead: a client holding it gets the 401, after
		// one refresh attempt, not a loop.
		dead, err := assistant.New(base, assistant.WithHTTP(hc),
			assistant.WithSession(assistant.Session{AccessToken: first.AccessToken + "x", RefreshToken: first.RefreshToken}))
		if err != nil {
			t.Fatal(err)
		}
		before = rec.count("/auth/refresh")
		_, err = dead.GetMeWithResponse(ctx)
		// The answer is the call's own 401, not the refresh's.
		wantAPIError(t, err, http.StatusUnauthorized, assistant.ErrorBodyCodeUnauthorized, rec.lastRequestID("/users/me"))
		if diff := cmp.Diff(1, rec.count("/auth/refresh")-before); diff != "" {
			t.Errorf("refreshes with a dead token (-want +got):\n%s", diff)
		}
	})

	t.Run("api key", func(t *testing.T) {
		r, err := c.CreateApiKeyWithResponse(ctx, assistant.CreateApiKeyRequest{Name: "sdk journey", CurrentPassword: password})
		if err != nil {
			t.Fatalf("create key: %v", err)
		}
		kc, err := assistant.New(base, assistant.WithHTTP(hc), assistant.WithAPIKey(r.JSON201.Key))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kc.ListConversationsWithResponse(ctx, nil); err != nil {
			t.Errorf("list conversations with a key: %v", err)
		}
		// Keys are for the API, not the account.
		_, err = kc.ListApiKeysWithResponse(ctx, nil)
		wantAPIError(t, err, http.StatusForbidden, assistant.ErrorBodyCodeForbidden, rec.lastRequestID(""))
	})

	// Conversations: create, rename, find in the list.
	title := "Trip to Lisbon"
	created, err := c.CreateConversationWithResponse(ctx, assistant.CreateConversationRequest{Title: &title})
	if err != nil {
		t.Fatalf("create conversation: %v", err)
	}
	conv := created.JSON201.Id
	renamed := "Two days in Lisbon"
	if _, err := c.UpdateConversationWithResponse(ctx, conv, assistant.UpdateConversationRequest{Title: &renamed}); err != nil {
		t.Fatalf("rename: %v", err)
	}
	list, err := c.ListConversationsWithResponse(ctx, nil)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var titles []string
	for _, it := range list.JSON200.Items {
		titles = append(titles, it.Title)
	}
	if diff := cmp.Diff([]string{renamed}, titles); diff != "" {
		t.Errorf("conversations (-want +got):\n%s", diff)
	}

	t.Run("stream cut off and resumed", func(t *testing.T) {
		chunks := []string{"Lisbon ", "in ", "two ", "days: ", "Alfama, ", "Belém."}
		step := make(chan struct{})
		fake.Set(fakeopenai.Behavior{Chunks: chunks, Step: step})
		cut := rec.cutNextStream()
		// The provider sends the rest only once the client has lost its connection, so the
		// cut is mid-reply whatever the scheduling.
		go func() {
			select {
			case <-cut:
			case <-ctx.Done():
				return
			}
			for range chunks {
				select {
				case step <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
		var types []string
		var text strings.Builder
		var done *assistant.DoneEvent
		for ev, err := range c.StreamReply(ctx, conv, assistant.SendMessageRequest{Content: "What should I see in Lisbon in two days?"}) {
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			types = append(types, ev.Type)
			switch {
			case ev.Delta != nil:
				text.WriteString(ev.Delta.Content)
			case ev.Done != nil:
				done = ev.Done
			}
		}
		if diff := cmp.Diff(strings.Join(chunks, ""), text.String()); diff != "" {
			t.Errorf("text of the deltas (-want +got):\n%s", diff)
		}
		if done == nil || done.Status != assistant.MessageStatusComplete || done.Content != strings.Join(chunks, "") {
			t.Fatalf("done: %+v", done)
		}
		if types[0] != "message" || types[1] != "delta" || types[len(types)-1] != "done" {
			t.Errorf("event types: %v", types)
		}
		// It re-attached once, after the first delta (whose id is its text's bytes).
		if diff := cmp.Diff([]string{"7"}, rec.lastEventIDs()); diff != "" {
			t.Errorf("Last-Event-ID sent (-want +got):\n%s", diff)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		// The provider sends one chunk, then nothing until the reply is cancelled.
		fake.Set(fakeopenai.Behavior{Chunks: []string{"Start ", "with ", "Alfama."}, Step: make(chan struct{})})
		var done *assistant.DoneEvent
		var reply uuid.UUID
		for ev, err := range c.StreamReply(ctx, conv, assistant.SendMessageRequest{Content: "And on a rainy day?"}) {
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if ev.Message != nil {
				reply = ev.Message.AssistantMessageId
			}
			if ev.Delta != nil {
				if _, err := c.CancelMessageWithResponse(ctx, conv, reply); err != nil {
					t.Fatalf("cancel: %v", err)
				}
			}
			if ev.Done != nil {
				done = ev.Done
			}
		}
		if done == nil || done.Status != assistant.MessageStatusCancelled || done.Content != "Start " {
			t.Fatalf("done after cancel: %+v", done)
		}
	})

	t.Run("upload and attach", func(t *testing.T) {
		f, err := c.Upload(ctx, "notes.txt", strings.NewReader("Pastéis de Belém open at eight."))
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		fake.Set(fakeopenai.Behavior{Chunks: []string{"Go ", "early."}})
		ids := []uuid.UUID{f.Id}
		r, err := c.SendMessageWithResponse(ctx, conv, assistant.SendMessageRequest{Content: "Plan around my notes", FileIds: &ids})
		if err != nil {
			t.Fatalf("send with a file: %v", err)
		}
		if diff := cmp.Diff("Go early.", r.JSON201.AssistantMessage.Content); diff != "" {
			t.Errorf("reply (-want +got):\n%s", diff)
		}
		reqs := fake.Requests()
		var prompt strings.Builder
		for _, m := range reqs[len(reqs)-1].Messages {
			prompt.WriteString(m.Content)
		}
		if !strings.Contains(prompt.String(), "Pastéis de Belém open at eight.") {
			t.Errorf("the file's text did not reach the model:\n%s", prompt.String())
		}
		got, err := c.DownloadFileWithResponse(ctx, f.Id, nil)
		if err != nil {
			t.Fatalf("download file: %v", err)
		}
		if diff := cmp.Diff("Pastéis de Belém open at eight.", string(got.Body)); diff != "" {
			t.Errorf("file content (-want +got):\n%s", diff)
		}
	})

	t.Run("export and download", func(t *testing.T) {
		r, err := c.CreateExportWithResponse(ctx, conv, assistant.CreateExportRequest{Format: assistant.CreateExportRequestFormatPdf})
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		pdf, err := c.DownloadExportWithResponse(ctx, r.JSON201.Id, nil)
		if err != nil {
			t.Fatalf("download export: %v", err)
		}
		if !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) || int64(len(pdf.Body)) != r.JSON201.SizeBytes {
			t.Errorf("export: %d bytes beginning %q, want %d bytes of PDF", len(pdf.Body), pdf.Body[:min(8, len(pdf.Body))], r.JSON201.SizeBytes)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := c.GetConversationWithResponse(ctx, uuid.New())
		e := wantAPIError(t, err, http.StatusNotFound, assistant.ErrorBodyCodeNotFound, rec.lastRequestID(""))
		if e != nil && e.Details != nil {
			t.Errorf("404 details: %v", e.Details)
		}
		_, err = c.SendMessageWithResponse(ctx, conv, assistant.SendMessageRequest{Content: ""})
		e = wantAPIError(t, err, http.StatusUnprocessableEntity, assistant.ErrorBodyCodeValidationError, rec.lastRequestID(""))
		if e != nil {
			var fields []string
			for _, d := range e.Details {
				fields = append(fields, d.Field)
			}
			if diff := cmp.Diff([]string{"body.content"}, fields); diff != "" {
				t.Errorf("422 fields (-want +got):\n%s", diff)
			}
		}
		// A stream refused before its first event is the same typed error.
		for _, err := range c.StreamReply(ctx, uuid.New(), assistant.SendMessageRequest{Content: "Hello"}) {
			wantAPIError(t, err, http.StatusNotFound, assistant.ErrorBodyCodeNotFound, rec.lastRequestID(""))
		}
	})

	if err := c.Logout(ctx); err != nil {
		t.Fatalf("logout: %v", err)
	}
	_, err = c.GetMeWithResponse(ctx)
	wantAPIError(t, err, http.StatusUnauthorized, assistant.ErrorBodyCodeUnauthorized, rec.lastRequestID(""))
}

// wantAPIError requires err to be the envelope of the status and code, whose request id is
// the X-Request-ID of the response.
func wantAPIError(t *testing.T, err error, status int, code assistant.ErrorBodyCode, requestID string) *assistant.APIError {
	t.Helper()
	var e *assistant.APIError
	if !errors.As(err, &e) {
		t.Errorf("error %v (%T), want an *assistant.APIError", err, err)
		return nil
	}
	if diff := cmp.Diff([]any{status, code, requestID}, []any{e.StatusCode, e.Code, e.RequestID}); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if e.Message == "" {
		t.Errorf("error without a message: %+v", e)
	}
	return e
}

func refreshTokens(ss []assistant.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.RefreshToken)
	}
	return out
}

// recorder is the SDK's transport in the test: it checks every plain response against the
// spec, counts requests, remembers the headers that matter, and cuts a stream on demand as a
// dropped connection would.
type recorder struct {
	t    *testing.T
	env  *apitest.Env
	next http.RoundTripper

	mu      sync.Mutex
	paths   []string
	eventID []string
	reqIDs  []string
	cut     chan struct{}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.Path)
	if v := req.Header.Get("Last-Event-ID"); v != "" {
		r.eventID = append(r.eventID, v)
	}
	r.reqIDs = append(r.reqIDs, resp.Header.Get("X-Request-ID"))
	cut := r.cut
	if cut != nil && strings.HasSuffix(req.URL.Path, "/messages/stream") && resp.StatusCode == http.StatusOK {
		r.cut = nil
		resp.Body = &cutter{ReadCloser: resp.Body, cut: cut}
	}
	r.mu.Unlock()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.env.Check(req, &apitest.Response{Response: resp, Body: body})
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (r *recorder) count(suffix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.paths {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

func (r *recorder) lastEventIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.eventID...)
}

// lastRequestID is the X-Request-ID of the last response to a path ending in suffix.
func (r *recorder) lastRequestID(suffix string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.paths) - 1; i >= 0; i-- {
		if strings.HasSuffix(r.paths[i], suffix) {
			return r.reqIDs[i]
		}
	}
	return ""
}

// cutNextStream makes the next sendMessageStream response fail after its first delta, and
// returns a channel closed when it has.
func (r *recorder) cutNextStream() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = make(chan struct{})
	return r.cut
}

// cutter passes a stream through until it has carried a whole delta event, then fails as a
// connection reset would.
type cutter struct {
	io.ReadCloser
	seen strings.Builder
	cut  chan struct{}
	done bool
}

func (c *cutter) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := c.ReadCloser.Read(p)
	c.seen.Write(p[:n])
	s := c.seen.String()
	if i := strings.Index(s, "event: delta"); i >= 0 && strings.Contains(s[i:], "\n\n") {
		c.done = true
		close(c.cut)
	}
	return n, err
}
