package files

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
	"assistant/server/metrics"
)

// Envelope is what an upload's multipart envelope (boundaries, part headers) may add to
// its file: the body limit allows MAX_UPLOAD_BYTES plus this, and a declared body size is
// held against the storage quota less this.
const Envelope = 1 << 20

type declaredSizeKey struct{}

// KeepDeclaredSize is a strict middleware that keeps an upload's declared body size (its
// Content-Length) in the context, for refusing an upload that cannot fit the storage quota
// before reading it: the generated request object carries only the multipart reader. The
// operation is told by its generated request type, not by a name written here.
func KeepDeclaredSize(f api.StrictHandlerFunc, _ string) api.StrictHandlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		if _, ok := request.(api.UploadFileRequestObject); ok {
			ctx = context.WithValue(ctx, declaredSizeKey{}, r.ContentLength)
		}
		return f(ctx, w, r, request)
	}
}

// UploadFile streams the part named "file" to storage: never whole in memory, its size
// checked as it arrives, its type from its content. A failed or aborted upload leaves
// neither bytes nor a row. The storage quota (files and exports together) is checked
// before the body is read (against its declared size, when it has one), while it streams
// (it stops the moment the file crosses what is left) and, serialised per user, in the
// transaction that records the file.
func (h *Files) UploadFile(ctx context.Context, req api.UploadFileRequestObject) (api.UploadFileResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	release, err := h.startUpload(p.UserID)
	if err != nil {
		return nil, err
	}
	defer release()
	used, err := h.Q.StorageUsed(ctx, h.DB, p.UserID)
	if err != nil {
		return nil, err
	}
	remaining := max(h.Quota-used, 0)
	if declared, ok := ctx.Value(declaredSizeKey{}).(int64); ok && declared-Envelope > remaining {
		return nil, unread(overQuota(used, h.Quota, fmt.Sprintf("this upload declares %d bytes", declared)))
	}
	var stored *db.File
	for {
		part, err := req.Body.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			h.discard(stored)
			return nil, bodyError(err, h.MaxUpload)
		}
		if part.FormName() != "file" {
			// Other fields are not used; read them away (bounded by the body limit).
			_, _ = io.Copy(io.Discard, part)
			continue
		}
		if stored != nil {
			h.discard(stored)
			return nil, apierr.Validation(api.FieldError{Field: "body.file", Message: "send one file per upload"})
		}
		f, err := h.receive(ctx, p.UserID, part, used)
		if err != nil {
			return nil, err
		}
		stored = &f
	}
	if stored == nil {
		return nil, apierr.Validation(api.FieldError{Field: "body.file", Message: "is required"})
	}
	// The text is read now, once, and stored for every message the file is attached to.
	// The upload does not depend on it: a file that is not text is still stored, and an
	// extraction that outlasts the wait goes on and is stored (or done on first use).
	wait, cancel := context.WithTimeout(ctx, h.textState().lim.Timeout+time.Second)
	defer cancel()
	_, _ = h.extractText(wait, fileRef{ID: stored.ID, ContentType: stored.ContentType, SizeBytes: stored.SizeBytes, StorageKey: stored.StorageKey})
	return api.UploadFile201JSONResponse(toFile(*stored)), nil
}

// startUpload counts one more upload of the user in this process, refusing one beyond
// PerUser; release counts it done.
func (h *Files) startUpload(userID uuid.UUID) (release func(), err error) {
	if h.PerUser <= 0 {
		return func() {}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.uploading[userID] >= h.PerUser {
		return nil, unread(apierr.New(http.StatusTooManyRequests, api.ErrorBodyCodeRateLimited,
			fmt.Sprintf("you have %d uploads in progress, the most at once (UPLOADS_PER_USER); try again when one is done", h.PerUser)).
			WithRetryAfter(2 * time.Second))
	}
	if h.uploading == nil {
		h.uploading = map[uuid.UUID]int{}
	}
	h.uploading[userID]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.uploading[userID]--; h.uploading[userID] <= 0 {
			delete(h.uploading, userID)
		}
	}, nil
}

// overQuota is the 429 for a file that does not fit what is left of the storage quota.
func overQuota(used, quota int64, needs string) *apierr.Error {
	return apierr.QuotaExceeded("the file would exceed your storage quota; delete files or exports to make room", 0).
		WithDetails(api.FieldError{Field: "body.file", Message: fmt.Sprintf(
			"%d bytes used of %d (USER_STORAGE_QUOTA_BYTES, files and exports together); %s", used, quota, needs)})
}

// unread marks a refusal sent before the body has been read: the connection is closed after
// the answer instead of the rest of the body being read away first.
func unread(e *apierr.Error) *apierr.Error {
	return e.WithHeader("Connection", "close")
}

// discard removes a file already stored when the rest of the request turns out bad.
func (h *Files) discard(f *db.File) {
	if f == nil {
		return
	}
	ctx := context.Background()
	if _, err := h.Q.DeleteFile(ctx, h.DB, f.ID, f.UserID); err == nil {
		_ = h.Store.Delete(ctx, f.StorageKey)
	}
}

// bodyError maps a failure to read the request body.
func bodyError(err error, limit int64) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return tooLarge(limit)
	}
	return apierr.BadRequest("the multipart body could not be read")
}

func tooLarge(limit int64) *apierr.Error {
	return apierr.TooLarge(limit).WithMessage(fmt.Sprintf("the file is larger than %d bytes", limit)).
		WithDetails(api.FieldError{Field: "body.file", Message: fmt.Sprintf("must be at most %d bytes (MAX_UPLOAD_BYTES)", limit)})
}

// receive stores one file part. used is what the user's files and exports took when the
// upload began: the part is read only up to what is left of the quota (and MaxUpload), and
// checked once more against the quota under the user's lock before its row is written.
func (h *Files) receive(ctx context.Context, userID uuid.UUID, p *multipart.Part, used int64) (db.File, error) {
	name := CleanFilename(dispositionFilename(p))
	id := database.NewID()
	key := storageKey(userID, id)
	remaining := max(h.Quota-used, 0)

	// A part that says its own size is held to it before a byte of it is read.
	if cl, err := strconv.ParseInt(p.Header.Get("Content-Length"), 10, 64); err == nil && cl >= 0 {
		if cl > h.MaxUpload {
			return db.File{}, unread(tooLarge(h.MaxUpload))
		}
		if cl > remaining {
			return db.File{}, unread(overQuota(used, h.Quota, fmt.Sprintf("this file is %d bytes", cl)))
		}
	}
	// One byte more than allowed tells "exactly the limit" from "over it".
	limit := min(h.MaxUpload, remaining)
	in := io.LimitReader(p, limit+1)
	over := func(size int64) error {
		if size > h.MaxUpload {
			return unread(tooLarge(h.MaxUpload))
		}
		return unread(overQuota(used, h.Quota, fmt.Sprintf("this file is more than %d bytes", size-1)))
	}

	head := make([]byte, 512)
	n, err := io.ReadFull(in, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return db.File{}, bodyError(err, h.MaxUpload)
	}
	head = head[:n]
	if int64(n) > limit {
		return db.File{}, over(int64(n))
	}
	ctype, ok := detectType(head, name)
	if !ok {
		return db.File{}, apierr.New(http.StatusUnsupportedMediaType, api.ErrorBodyCodeUnsupportedMediaType,
			fmt.Sprintf("files of type %s are not accepted; accepted: %s", ctype, strings.Join(Allowed, ", ")))
	}

	blob, err := h.Store.Create(ctx, key)
	if err != nil {
		return db.File{}, err
	}
	committed := false
	defer func() {
		if !committed {
			blob.Abort()
		}
	}()
	sum := sha256.New()
	w := io.MultiWriter(blob, sum)
	if _, err := w.Write(head); err != nil {
		return db.File{}, err
	}
	rest, err := io.Copy(w, in)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return db.File{}, tooLarge(h.MaxUpload)
		}
		if ctx.Err() != nil {
			return db.File{}, ctx.Err()
		}
		// Reading the client failed (it went away, or sent a broken body).
		return db.File{}, bodyError(err, h.MaxUpload)
	}
	size := int64(len(head)) + rest
	if size > limit {
		return db.File{}, over(size)
	}

	var f db.File
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		// Concurrent uploads and exports of the user are serialised here: each sees what
		// the others stored.
		if err := h.Q.LockUserStorage(ctx, tx, userID.String()); err != nil {
			return err
		}
		used, err := h.Q.StorageUsed(ctx, tx, userID)
		if err != nil {
			return err
		}
		if used+size > h.Quota {
			return overQuota(used, h.Quota, fmt.Sprintf("this file is %d bytes", size))
		}
		f, err = h.Q.CreateFile(ctx, tx, db.CreateFileParams{ID: id, UserID: userID, Filename: name, ContentType: ctype,
			SizeBytes: size, Sha256: hexSum(sum.Sum(nil)), StorageKey: key})
		if err != nil {
			return err
		}
		// The bytes become visible only with the row: a failed commit below removes them.
		if err := blob.Commit(); err != nil {
			return err
		}
		committed = true
		return nil
	})
	if err != nil {
		if committed {
			_ = h.Store.Delete(ctx, key)
		}
		return db.File{}, err
	}
	h.Metrics.Stored(metrics.KindUpload, f.SizeBytes)
	return f, nil
}

// dispositionFilename reads the filename parameter as sent: multipart.Part.FileName would
// already have dropped a Unix path but kept a Windows one.
func dispositionFilename(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}
