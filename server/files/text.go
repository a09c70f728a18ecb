package files

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/ledongthuc/pdf"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// Doc is a file's text as the model gets it.
type Doc struct {
	Name string
	Text string
}

// maxTextBytes bounds what is read from one file; the context budget cuts further.
const maxTextBytes = 1 << 20

// Texts reads the text of the user's files, in the order of ids. A file that is not the
// user's, or cannot be read as text (an image, a PDF without text), is a 422 naming it.
func (h *Files) Texts(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]Doc, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := h.Q.GetFiles(ctx, h.DB, userID, ids)
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
		text, err := h.text(f.StorageKey, f.ContentType)
		if err != nil {
			return nil, apierr.Validation(api.FieldError{Field: field, Message: fmt.Sprintf("%s cannot be read as text (%s)", f.Filename, err)})
		}
		docs = append(docs, Doc{Name: f.Filename, Text: text})
	}
	return docs, nil
}

func (h *Files) text(key, contentType string) (string, error) {
	switch {
	case TextLike(contentType):
		blob, err := h.Store.Open(key)
		if err != nil {
			return "", fmt.Errorf("missing")
		}
		defer blob.Close()
		b, err := io.ReadAll(io.LimitReader(blob, maxTextBytes))
		if err != nil {
			return "", fmt.Errorf("unreadable")
		}
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	case contentType == "application/pdf":
		return h.pdfText(key)
	}
	return "", fmt.Errorf("%s is not text", contentType)
}

// pdfText extracts a PDF's text. The parser can panic on malformed files: that is a file
// without readable text, not a server error.
func (h *Files) pdfText(key string) (text string, err error) {
	defer func() {
		if recover() != nil {
			text, err = "", fmt.Errorf("malformed PDF")
		}
	}()
	blob, err := h.Store.Open(key)
	if err != nil {
		return "", fmt.Errorf("missing")
	}
	defer blob.Close()
	ra, ok := blob.(io.ReaderAt)
	if !ok {
		return "", fmt.Errorf("unreadable")
	}
	r, err := pdf.NewReader(ra, blob.Size())
	if err != nil {
		return "", fmt.Errorf("malformed PDF")
	}
	plain, err := r.GetPlainText()
	if err != nil {
		return "", fmt.Errorf("malformed PDF")
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(plain, maxTextBytes)); err != nil {
		return "", fmt.Errorf("malformed PDF")
	}
	t := strings.TrimSpace(strings.ToValidUTF8(buf.String(), ""))
	if t == "" {
		return "", fmt.Errorf("the PDF has no text")
	}
	return t, nil
}
