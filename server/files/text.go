package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/recovery"
)

// Doc is a file's text as the model gets it.
type Doc struct {
	Name string
	Text string
	// Truncated, when not empty, says what part of the file Text is (e.g. "the first
	// 1048576 bytes of 5000000"); the model is told.
	Truncated string
}

// TextLimits bound reading one file's text. Zero fields take the defaults.
type TextLimits struct {
	// MaxBytes is the text kept (1 MiB); the context budget cuts further.
	MaxBytes int
	// MaxPages is the PDF pages read (1000).
	MaxPages int
	// MaxStreamBytes is the decoded page content read from one PDF (256 MiB; it is read as
	// a stream, so this bounds time, not memory).
	MaxStreamBytes int64
	// Timeout bounds one extraction (10 s); the text read by then is kept, marked as cut.
	Timeout time.Duration
	// Concurrent is how many extractions run at once (GOMAXPROCS); the others wait.
	Concurrent int
	// Wait bounds the wait for a turn (1 minute); then the send is a 503.
	Wait time.Duration
}

func (l TextLimits) withDefaults() TextLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 20
	}
	if l.MaxPages <= 0 {
		l.MaxPages = 1000
	}
	if l.MaxStreamBytes <= 0 {
		l.MaxStreamBytes = 256 << 20
	}
	if l.Timeout <= 0 {
		l.Timeout = 10 * time.Second
	}
	if l.Concurrent <= 0 {
		l.Concurrent = runtime.GOMAXPROCS(0)
	}
	if l.Wait <= 0 {
		l.Wait = time.Minute
	}
	return l
}

// textResult is a file's text, or why it has none.
type textResult struct {
	Text string
	// Truncated, when not empty, says what part of the text was kept.
	Truncated string
	// Err, when not empty, says why the file cannot be read as text (a 422 when attached).
	Err string
}

func (r textResult) doc(name string) Doc {
	return Doc{Name: name, Text: r.Text, Truncated: r.Truncated}
}

// texts is the extraction state shared by the handlers: a semaphore, and the extractions
// in flight by file (a second caller waits for the first's instead of starting its own).
type texts struct {
	once     sync.Once
	lim      TextLimits
	sem      chan struct{}
	mu       sync.Mutex
	inflight map[uuid.UUID]*flight
}

type flight struct {
	done chan struct{}
	once sync.Once
	res  textResult
	err  error
}

// finish hands the result to the waiters, once: from the extraction, or from the
// watchdog when the extraction does not stop.
func (t *texts) finish(id uuid.UUID, fl *flight, res textResult, err error) {
	fl.once.Do(func() {
		fl.res, fl.err = res, err
		t.mu.Lock()
		delete(t.inflight, id)
		t.mu.Unlock()
		close(fl.done)
	})
}

func (h *Files) textState() *texts {
	t := &h.texts
	t.once.Do(func() {
		t.lim = h.TextLimits.withDefaults()
		t.sem = make(chan struct{}, t.lim.Concurrent)
		t.inflight = map[uuid.UUID]*flight{}
	})
	return t
}

// errMissing is a file whose bytes are gone (not stored: they may come back).
var errMissing = errors.New("missing")

// fileRef is what extraction needs of a file's row.
type fileRef struct {
	ID          uuid.UUID
	ContentType string
	SizeBytes   int64
	StorageKey  string
}

// Texts reads the text of the user's files, in the order of ids: extracted once and
// stored, so a file attached again costs a query. A file that is not the user's, or
// cannot be read as text (an image, a PDF without text), is a 422 naming it.
func (h *Files) Texts(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]Doc, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := h.Q.GetFilesWithText(ctx, h.DB, userID, ids)
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]int{}
	for i, f := range rows {
		byID[f.ID] = i
	}
	docs := make([]Doc, 0, len(ids))
	for i, id := range ids {
		field := fmt.Sprintf("body.file_ids.%d", i)
		j, ok := byID[id]
		if !ok {
			return nil, apierr.Validation(api.FieldError{Field: field, Message: "no such file"})
		}
		f := rows[j]
		res := storedText(f)
		if !f.Extracted {
			// Uploaded before texts were stored, or its extraction did not finish: read now.
			res, err = h.extractText(ctx, fileRef{ID: f.ID, ContentType: f.ContentType, SizeBytes: f.SizeBytes, StorageKey: f.StorageKey})
			if errors.Is(err, errMissing) {
				res, err = textResult{Err: "missing"}, nil
			}
			if err != nil {
				return nil, err
			}
		}
		if res.Err != "" {
			return nil, apierr.Validation(api.FieldError{Field: field, Message: fmt.Sprintf("%s cannot be read as text (%s)", f.Filename, res.Err)})
		}
		docs = append(docs, res.doc(f.Filename))
	}
	return docs, nil
}

func storedText(f db.GetFilesWithTextRow) textResult {
	var r textResult
	if f.Text != nil {
		r.Text = *f.Text
	}
	if f.Truncated != nil {
		r.Truncated = *f.Truncated
	}
	if f.Error != nil {
		r.Err = *f.Error
	}
	return r
}

// extractText reads a file's text and stores it, or waits for the extraction of the
// same file already running. The extraction runs in its own goroutine, on the caller's
// context without its cancellation: a caller that goes away does not waste it, and the
// next one finds the text stored.
func (h *Files) extractText(ctx context.Context, f fileRef) (textResult, error) {
	t := h.textState()
	t.mu.Lock()
	fl, ok := t.inflight[f.ID]
	if !ok {
		fl = &flight{done: make(chan struct{})}
		t.inflight[f.ID] = fl
		bg := context.WithoutCancel(ctx)
		recovery.Go(bg, h.Log, "extract a file's text", func() error {
			res, err := h.extractAndStore(bg, t, f, fl)
			t.finish(f.ID, fl, res, err)
			return nil
		}, func(err error) {
			if err != nil { // a panic, logged with its stack
				t.finish(f.ID, fl, textResult{}, err)
			}
		})
	}
	t.mu.Unlock()
	select {
	case <-fl.done:
		return fl.res, fl.err
	case <-ctx.Done():
		return textResult{}, ctx.Err()
	}
}

// extractAndStore waits for a turn, extracts and stores. An extraction ends by its time
// limit, except where the parser loops without reading (a crafted object stream: see
// pdfguard.go): after twice the limit a watchdog gives up the turn, stores the file as
// unreadable (so it is never read again, even after a restart), answers the waiters and
// logs it. That goroutine cannot be stopped; it costs a core until the process ends.
func (h *Files) extractAndStore(ctx context.Context, t *texts, f fileRef, fl *flight) (textResult, error) {
	wait, cancel := context.WithTimeout(ctx, t.lim.Wait)
	defer cancel()
	select {
	case t.sem <- struct{}{}:
	case <-wait.Done():
		h.Log.WarnContext(ctx, "no turn to extract a file's text", slog.String("file_id", f.ID.String()), slog.Duration("waited", t.lim.Wait))
		return textResult{}, apierr.ErrUnavailable
	}
	var release sync.Once
	free := func() { release.Do(func() { <-t.sem }) }
	stuck := time.AfterFunc(2*t.lim.Timeout+5*time.Second, func() {
		h.Log.ErrorContext(ctx, "a file's text extraction does not stop; its turn is given up", slog.String("file_id", f.ID.String()))
		free()
		res := textResult{Err: "reading the file did not finish"}
		h.save(ctx, f.ID, res)
		t.finish(f.ID, fl, res, nil)
	})
	start := time.Now()
	res, err := h.extract(ctx, t.lim, f)
	stuck.Stop()
	free()
	if err != nil {
		h.Log.ErrorContext(ctx, "read a file's bytes", slog.String("file_id", f.ID.String()), slog.Any("error", err))
		return res, err
	}
	h.save(ctx, f.ID, res)
	h.Log.InfoContext(ctx, "file text extracted", slog.String("file_id", f.ID.String()),
		slog.String("content_type", f.ContentType), slog.Int64("size_bytes", f.SizeBytes),
		slog.Int("text_bytes", len(res.Text)), slog.String("truncated", res.Truncated),
		slog.String("unreadable", res.Err), slog.Duration("took", time.Since(start)))
	return res, nil
}

// save stores a file's text (or why it has none). A failure is logged: the text is still
// used now, and the next send extracts again.
func (h *Files) save(ctx context.Context, id uuid.UUID, res textResult) {
	params := db.SaveFileTextParams{FileID: id}
	if res.Err != "" {
		params.Error = &res.Err
	} else {
		params.Text = &res.Text
		if res.Truncated != "" {
			params.Truncated = &res.Truncated
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Q.SaveFileText(ctx, h.DB, params); err != nil {
		h.Log.ErrorContext(ctx, "store a file's text", slog.String("file_id", id.String()), slog.Any("error", err))
	}
}

// extract reads the text of one file within the limits. An error is a file whose bytes
// cannot be read (errMissing); a file that is not text is a result with Err.
func (h *Files) extract(ctx context.Context, lim TextLimits, f fileRef) (textResult, error) {
	if !TextLike(f.ContentType) && f.ContentType != "application/pdf" {
		return textResult{Err: fmt.Sprintf("%s is not text", f.ContentType)}, nil
	}
	blob, err := h.Store.Open(ctx, f.StorageKey)
	if err != nil {
		return textResult{}, fmt.Errorf("%w: %w", errMissing, err)
	}
	defer blob.Close()
	if TextLike(f.ContentType) {
		return plainText(blob, blob.Size(), lim.MaxBytes)
	}
	ra, ok := blob.(io.ReaderAt)
	if !ok {
		return textResult{}, fmt.Errorf("%w: the store cannot read at offsets", errMissing)
	}
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	res := pdfText(ctx, ra, blob.Size(), lim)
	if res.Err == errTooMuchMemory && ctx.Err() == nil {
		// The heap is the process's: once more after a collection, in case the growth was
		// others' garbage.
		runtime.GC()
		res = pdfText(ctx, ra, blob.Size(), lim)
	}
	return res, nil
}

// plainText is the first limit bytes of a text file, cut at a character boundary.
func plainText(r io.Reader, size int64, limit int) (textResult, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)))
	if err != nil {
		return textResult{}, fmt.Errorf("%w: %w", errMissing, err)
	}
	res := textResult{}
	if size > int64(len(b)) {
		// Drop a character cut in two (at most 3 bytes), then say what was kept.
		for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
			if utf8.RuneStart(b[len(b)-i]) {
				if !utf8.FullRune(b[len(b)-i:]) {
					b = b[:len(b)-i]
				}
				break
			}
		}
		res.Truncated = fmt.Sprintf("the first %d bytes of %d", len(b), size)
	}
	res.Text = cleanText(string(b))
	return res, nil
}
