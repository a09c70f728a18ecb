// Package imports implements POST /imports: conversations brought from a ChatGPT data
// export, an Open WebUI export, or this API's own JSON export.
//
// The file is read as a stream: stream cuts it into its top-level values, one conversation
// each, held in memory one at a time (at most MaxConversationBytes); each is decoded into
// the fields of all three formats (formats.go), turned into one shared tree (tree.go) and
// stored in a transaction of its own. A conversation that cannot be imported is skipped
// with its reason; a file that cannot be read as a whole stores nothing.
package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
)

// The bounds of one import (the spec's description of POST /imports says them too).
const (
	// MaxConversations is the most conversations one file may hold.
	MaxConversations = 10_000
	// MaxMessages is the most messages one imported conversation may keep.
	MaxMessages = 10_000
	// MaxConversationBytes is the most JSON one conversation may take in the file: the
	// memory an import holds at once is about twice this, whatever the file's size.
	MaxConversationBytes = 8 << 20
	// MaxDepth is how deeply the file's JSON may nest.
	MaxDepth = 64
	// MaxContainers is the most objects and arrays one conversation may hold: decoding
	// allocates per container, so this bounds one conversation's memory (tens of MB) where
	// its byte size alone would not (tiny objects cost far more decoded than in the file).
	MaxContainers = 100_000
	// PerUser is how many imports one user may run at once (in this process).
	PerUser = 1
)

// Imports implements the import operation of the strict server.
type Imports struct {
	DB database.DB
	Q  *db.Queries
	// MaxUpload is MAX_UPLOAD_BYTES, the largest file; Timeout is UPLOAD_TIMEOUT, how long
	// one import may take, reading and storing.
	MaxUpload int64
	Timeout   time.Duration
	Log       *slog.Logger

	mu        sync.Mutex
	importing map[uuid.UUID]int
}

// errTimeout is the cause of an import's context ending at Timeout.
var errTimeout = errors.New("the import took longer than UPLOAD_TIMEOUT")

// ImportConversations reads an export file as a stream and stores its conversations, each
// in a transaction of its own. When the import fails as a whole (the file is not one of the
// formats, not valid JSON, too large or too slow, or the client goes away) the
// conversations it had already stored are deleted again: a failed import leaves nothing.
func (h *Imports) ImportConversations(ctx context.Context, req api.ImportConversationsRequestObject) (api.ImportConversationsResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	release, err := h.start(p.UserID)
	if err != nil {
		return nil, err
	}
	defer release()
	work := ctx
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		work, cancel = context.WithTimeoutCause(ctx, h.Timeout, errTimeout)
		defer cancel()
	}
	r := &run{h: h, user: p.UserID, result: api.ImportResult{ConversationIds: []uuid.UUID{}, Skipped: []api.ImportSkipped{}}}
	seen := false
	for {
		part, err := req.Body.NextPart()
		if err == io.EOF {
			break
		}
		switch {
		case err != nil:
			err = &readError{err: err}
		case part.FormName() != "file":
			// Other fields are not used; read them away (bounded by the body limit).
			if _, err = io.Copy(io.Discard, readErrors{part}); err == nil {
				continue
			}
		}
		if err == nil && seen {
			err = apierr.Validation(api.FieldError{Field: "body.file", Message: "send one file per import"})
		}
		if err == nil {
			seen = true
			err = r.read(work, part)
		}
		if err != nil {
			r.undo(ctx)
			return nil, h.failure(ctx, work, err)
		}
	}
	if !seen {
		return nil, apierr.Validation(api.FieldError{Field: "body.file", Message: "is required"})
	}
	if r.result.Conversations > 0 {
		h.Log.InfoContext(ctx, "import", slog.Int("conversations", r.result.Conversations),
			slog.Int("messages", r.result.Messages), slog.Int("skipped", len(r.result.Skipped)))
	}
	return api.ImportConversations201JSONResponse(r.result), nil
}

// failure is the answer to an import that failed as a whole.
func (h *Imports) failure(ctx, work context.Context, err error) error {
	var syn *syntaxError
	var mb *http.MaxBytesError
	switch {
	case context.Cause(work) == errTimeout, errors.Is(err, os.ErrDeadlineExceeded):
		// The import's own deadline, or the connection's read deadline (UPLOAD_TIMEOUT too;
		// net/http then cancels the request's context, but the answer may still arrive).
		return apierr.TooLarge(h.MaxUpload).WithMessage(fmt.Sprintf("the import took longer than %s (UPLOAD_TIMEOUT); import the file in parts", h.Timeout)).
			WithDetails(api.FieldError{Field: "body.file", Message: "took too long to import"})
	case ctx.Err() != nil:
		// The client went away (or the server is stopping).
		return ctx.Err()
	case errors.As(err, &syn):
		return invalid(fmt.Sprintf("is not valid JSON: %s at byte %d", syn.msg, syn.off))
	case errors.As(err, &mb):
		return apierr.TooLarge(h.MaxUpload).WithMessage(fmt.Sprintf("the file is larger than %d bytes", h.MaxUpload)).
			WithDetails(api.FieldError{Field: "body.file", Message: fmt.Sprintf("must be at most %d bytes (MAX_UPLOAD_BYTES)", h.MaxUpload)})
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	var read *readError
	if errors.As(err, &read) {
		return apierr.BadRequest("the multipart body could not be read")
	}
	return err
}

// invalid is the 422 for a file that cannot be imported as a whole.
func invalid(msg string) *apierr.Error {
	return apierr.Validation(api.FieldError{Field: "body.file", Message: msg}).
		WithMessage("the file cannot be imported")
}

// start counts one more import of the user, refusing one beyond PerUser; release counts
// it done.
func (h *Imports) start(userID uuid.UUID) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.importing[userID] >= PerUser {
		return nil, apierr.New(http.StatusTooManyRequests, api.ErrorBodyCodeRateLimited,
			"you have an import in progress; try again when it is done").
			WithRetryAfter(5*time.Second).WithHeader("Connection", "close")
	}
	if h.importing == nil {
		h.importing = map[uuid.UUID]int{}
	}
	h.importing[userID]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.importing[userID]--; h.importing[userID] <= 0 {
			delete(h.importing, userID)
		}
	}, nil
}

// run is one import in progress.
type run struct {
	h      *Imports
	user   uuid.UUID
	result api.ImportResult
}

// readError is the request body failing to arrive (not the file's content being wrong).
type readError struct{ err error }

func (e *readError) Error() string { return "read the upload: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// read imports the file part: one top-level array of conversations, or one conversation.
func (r *run) read(ctx context.Context, part *multipart.Part) error {
	s := newStream(&limited{r: readErrors{part}, max: r.h.MaxUpload})
	c, err := s.next()
	if err == io.EOF {
		return invalid("is empty; expected a ChatGPT conversations.json, an Open WebUI chat export or this API's JSON export")
	}
	if err != nil {
		return err
	}
	var buf []byte
	switch c {
	case '[':
		c, err := s.next()
		if err != nil {
			return atEnd(err, s)
		}
		if c == ']' {
			return invalid("holds no conversations (an empty list)")
		}
		for n := 1; ; n++ {
			if n > MaxConversations {
				return invalid(fmt.Sprintf("holds more than %d conversations, the most one import may bring; split it", MaxConversations))
			}
			if buf, err = r.one(ctx, s, c, n, buf); err != nil {
				return err
			}
			c, err = s.next()
			if err != nil {
				return atEnd(err, s)
			}
			if c == ']' {
				break
			}
			if c != ',' {
				return &syntaxError{off: s.off - 1, msg: fmt.Sprintf("expected , or ] after a conversation, found %q", c)}
			}
			if c, err = s.next(); err != nil {
				return atEnd(err, s)
			}
		}
	case '{':
		if _, err = r.one(ctx, s, c, 1, buf); err != nil {
			return err
		}
	default:
		return unrecognised()
	}
	if c, err := s.next(); err != io.EOF {
		if err != nil {
			return err
		}
		return &syntaxError{off: s.off - 1, msg: fmt.Sprintf("unexpected %q after the end of the JSON", c)}
	}
	return nil
}

// atEnd turns the end of the file where more was expected into a syntax error.
func atEnd(err error, s *stream) error {
	if err == io.EOF {
		return &syntaxError{off: s.off, msg: errEnd.Error()}
	}
	return err
}

func unrecognised() *apierr.Error {
	return invalid("is not a format this import reads: expected a ChatGPT conversations.json (a list of " +
		`conversations with "mapping"), an Open WebUI chat export (a list of chats, or one, with "chat") or ` +
		`this API's JSON export (an object with "conversation" and "messages")`)
}

// one reads the conversation that starts with c (the n-th of the file), and stores it or
// records why it was skipped. It returns the buffer for the next.
func (r *run) one(ctx context.Context, s *stream, c byte, n int, buf []byte) ([]byte, error) {
	start := s.off - 1
	data, over, err := s.value(c, buf[:0], MaxConversationBytes)
	if err != nil {
		return data, err
	}
	if err := ctx.Err(); err != nil {
		return data, err
	}
	if over {
		r.skip("", n, fmt.Sprintf("it is larger than %d bytes, the most one conversation may take", MaxConversationBytes))
		return data, nil
	}
	if s.containers > MaxContainers {
		r.skip("", n, fmt.Sprintf("it holds more than %d objects and arrays, the most one conversation may", MaxContainers))
		return data, nil
	}
	var e element
	if err := json.Unmarshal(data, &e); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return data, &syntaxError{off: start + syn.Offset, msg: syn.Error()}
		}
		// A field of another type than the format's is left empty (UnmarshalTypeError).
	}
	if data[0] != '{' || e.format() == unknown {
		if r.result.Conversations == 0 && len(r.result.Skipped) == 0 {
			// The first value decides whether this is an export at all.
			return data, unrecognised()
		}
		r.skip("", n, "it is not a conversation of a format this import reads")
		return data, nil
	}
	conv := e.conversation()
	p, err := conv.plan(time.Now())
	var rej *rejected
	if errors.As(err, &rej) {
		r.skip(conv.title, n, rej.reason)
		return data, nil
	}
	if err != nil {
		return data, err
	}
	id, err := r.store(ctx, p)
	if err != nil {
		if database.IsUnstorableText(err) {
			r.skip(conv.title, n, "the database refused its text")
			return data, nil
		}
		return data, err
	}
	r.result.Conversations++
	r.result.Messages += len(p.messages)
	r.result.ConversationIds = append(r.result.ConversationIds, id)
	return data, nil
}

// skip records a conversation left out.
func (r *run) skip(title string, n int, reason string) {
	r.result.Skipped = append(r.result.Skipped, api.ImportSkipped{
		Title:  clip(clean(title), 200),
		Reason: fmt.Sprintf("conversation %d of the file: %s", n, reason),
	})
}

// store writes one conversation in a transaction of its own.
func (r *run) store(ctx context.Context, p plan) (uuid.UUID, error) {
	id := database.NewID()
	n := len(p.messages)
	arg := db.CreateImportedMessagesParams{ConversationID: id, Ids: make([]uuid.UUID, n), ParentIds: make([]string, n),
		Roles: make([]string, n), Contents: make([]string, n), Models: make([]string, n), CreatedAts: make([]time.Time, n)}
	for i, m := range p.messages {
		// Ids in the order planned (parents first, siblings oldest first), so the order by
		// id is the order of the source.
		arg.Ids[i] = database.NewID()
		if m.parent >= 0 {
			arg.ParentIds[i] = arg.Ids[m.parent].String()
		}
		arg.Roles[i], arg.Contents[i], arg.Models[i], arg.CreatedAts[i] = m.role, m.content, m.model, m.created
	}
	current := arg.Ids[p.current]
	err := database.WithTx(ctx, r.h.DB, func(tx pgx.Tx) error {
		if err := r.h.Q.CreateImportedConversation(ctx, tx, db.CreateImportedConversationParams{ID: id, UserID: r.user,
			Title: p.title, TitleSet: p.titleSet, SystemPrompt: p.systemPrompt, Model: p.model,
			CreatedAt: p.created, UpdatedAt: p.updated, LastMessageAt: p.last}); err != nil {
			return fmt.Errorf("create conversation: %w", err)
		}
		if err := r.h.Q.CreateImportedMessages(ctx, tx, arg); err != nil {
			return fmt.Errorf("create messages: %w", err)
		}
		if err := r.h.Q.SetImportedCurrentMessage(ctx, tx, &current, id); err != nil {
			return fmt.Errorf("set current message: %w", err)
		}
		return nil
	})
	return id, err
}

// undo deletes what the import stored, when it fails as a whole; it runs to the end even
// when the client has gone.
func (r *run) undo(ctx context.Context) {
	if len(r.result.ConversationIds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := r.h.Q.DeleteImportedConversations(ctx, r.h.DB, r.user, r.result.ConversationIds); err != nil {
		r.h.Log.ErrorContext(ctx, "remove the conversations of a failed import", slog.Int("conversations", len(r.result.ConversationIds)),
			slog.Any("error", err))
	}
}

// readErrors marks the part's read failures (other than its end) as readError.
type readErrors struct{ r io.Reader }

func (e readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err: err}
	}
	return n, err
}

// limited fails the read that takes the file past max bytes (the body limit allows the
// multipart envelope besides).
type limited struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.max > 0 && l.n > l.max {
		return n, &http.MaxBytesError{Limit: l.max}
	}
	return n, err
}
