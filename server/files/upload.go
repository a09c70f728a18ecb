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
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/apierr"
	"assistant/server/auth"
	"assistant/server/database"
)

// UploadFile streams the part named "file" to storage: never whole in memory, its size
// checked as it arrives, its type from its content. A failed or aborted upload leaves
// neither bytes nor a row.
func (h *Files) UploadFile(ctx context.Context, req api.UploadFileRequestObject) (api.UploadFileResponseObject, error) {
	p, err := auth.Require(ctx)
	if err != nil {
		return nil, err
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
		f, err := h.receive(ctx, p.UserID, part)
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

// discard removes a file already stored when the rest of the request turns out bad.
func (h *Files) discard(f *db.File) {
	if f == nil {
		return
	}
	ctx := context.Background()
	if _, err := h.Q.DeleteFile(ctx, h.DB, f.ID, f.UserID); err == nil {
		_ = h.Store.Delete(f.StorageKey)
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
	e := apierr.TooLarge(limit)
	e.Message = fmt.Sprintf("the file is larger than %d bytes", limit)
	e.Details = []api.FieldError{{Field: "body.file", Message: fmt.Sprintf("must be at most %d bytes (MAX_UPLOAD_BYTES)", limit)}}
	return e
}

func (h *Files) receive(ctx context.Context, userID uuid.UUID, p *multipart.Part) (db.File, error) {
	name := CleanFilename(dispositionFilename(p))
	id := database.NewID()
	key := storageKey(userID, id)

	head := make([]byte, 512)
	n, err := io.ReadFull(p, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return db.File{}, bodyError(err, h.MaxUpload)
	}
	head = head[:n]
	ctype, ok := detectType(head, name)
	if !ok {
		return db.File{}, apierr.New(http.StatusUnsupportedMediaType, api.ErrorBodyCodeUnsupportedMediaType,
			fmt.Sprintf("files of type %s are not accepted; accepted: %s", ctype, strings.Join(Allowed, ", ")))
	}

	blob, err := h.Store.Create(key)
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
	// One byte more than allowed tells "exactly the limit" from "over it".
	rest, err := io.Copy(w, io.LimitReader(p, h.MaxUpload-int64(len(head))+1))
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
	if size > h.MaxUpload {
		return db.File{}, tooLarge(h.MaxUpload)
	}

	var f db.File
	err = database.WithTx(ctx, h.DB, func(tx pgx.Tx) error {
		if err := h.Q.LockUserStorage(ctx, tx, userID.String()); err != nil {
			return err
		}
		used, err := h.Q.UserStorageBytes(ctx, tx, userID)
		if err != nil {
			return err
		}
		if used+size > h.Quota {
			e := apierr.TooLarge(h.Quota)
			e.Message = "the file would exceed your storage quota"
			e.Details = []api.FieldError{{Field: "body.file", Message: fmt.Sprintf(
				"%d bytes used of %d; this file needs %d (USER_STORAGE_QUOTA_BYTES)", used, h.Quota, size)}}
			return e
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
			_ = h.Store.Delete(key)
		}
		return db.File{}, err
	}
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
