package apitest

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
)

// Multipart is a multipart/form-data body with one file part whose Content-Disposition is
// written as given (so tests can send names no well-behaved client would).
func Multipart(disposition string, content io.Reader) (body io.Reader, contentType string) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", disposition)
	h.Set("Content-Type", "application/octet-stream")
	if _, err := mw.CreatePart(h); err != nil {
		panic(err)
	}
	tail := fmt.Sprintf("\r\n--%s--\r\n", mw.Boundary())
	return io.MultiReader(&head, content, bytes.NewBufferString(tail)), mw.FormDataContentType()
}

// Upload sends one file named name with the content as the "file" part.
func (e *Env) Upload(token, name string, content []byte) *Response {
	e.t.Helper()
	body, ct := Multipart(fmt.Sprintf(`form-data; name="file"; filename=%q`, name), bytes.NewReader(content))
	req := e.Request(http.MethodPost, "/api/v1/files", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	return e.Do(req)
}
