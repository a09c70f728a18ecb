package assistant

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
)

// Upload stores a file (the multipart part `file`) and returns it. The content is streamed,
// never held whole in memory. An upload is not repeated after a refresh: with an expired
// access token, call Refresh first.
func (c *Client) Upload(ctx context.Context, name string, content io.Reader) (*File, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", name)
		if err == nil {
			_, err = io.Copy(part, content)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	r, err := c.UploadFileWithBodyWithResponse(ctx, mw.FormDataContentType(), pr)
	pr.Close() // ends the writer if the request stopped reading early
	if err != nil {
		return nil, err
	}
	if r.JSON201 == nil {
		return nil, fmt.Errorf("assistant: upload answered %d", r.StatusCode())
	}
	return r.JSON201, nil
}
