// Package download serves stored blobs: the stored type, an attachment disposition with a
// correctly encoded name, nosniff, an ETag, and Range / If-None-Match through
// http.ServeContent.
package download

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"assistant/gen/api"
	"assistant/server/apierr"
	"assistant/server/storage"
)

type requestKey struct{}

// WithRequest is a strict middleware that keeps the *http.Request in the context: a
// download's response needs it for Range and conditional headers, and the generated
// Visit methods receive only the writer. The operations are told by their generated
// request types, not by names written here.
func WithRequest(f api.StrictHandlerFunc, _ string) api.StrictHandlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, request any) (any, error) {
		switch request.(type) {
		case api.DownloadFileRequestObject, api.DownloadExportRequestObject:
			ctx = context.WithValue(ctx, requestKey{}, r)
		}
		return f(ctx, w, r, request)
	}
}

// Request is the request kept by WithRequest.
func Request(ctx context.Context) *http.Request {
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	return r
}

// Response writes one stored blob. It implements the download operations' response
// interfaces.
type Response struct {
	Req         *http.Request
	File        storage.File
	ContentType string
	Filename    string
	SHA256      string
	Log         *slog.Logger
}

func (d Response) VisitDownloadFileResponse(w http.ResponseWriter) error   { return d.serve(w) }
func (d Response) VisitDownloadExportResponse(w http.ResponseWriter) error { return d.serve(w) }

func (d Response) serve(w http.ResponseWriter) error {
	defer d.File.Close()
	h := w.Header()
	h.Set("Content-Type", d.ContentType)
	h.Set("Content-Disposition", ContentDisposition(d.Filename))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+d.SHA256+`"`)
	h.Set("Cache-Control", "private, no-cache")
	g := &rangeGuard{ResponseWriter: w, req: d.Req, log: d.Log, size: d.File.Size()}
	if zeroSuffix(d.Req.Header.Get("Range")) {
		// "bytes=-0" asks for the last 0 bytes: unsatisfiable (RFC 9110 §14.1.3), though
		// ServeContent answers it with a 206 whose Content-Range is backwards.
		g.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return nil
	}
	http.ServeContent(g, d.Req, "", d.File.ModTime(), d.File)
	return nil
}

// zeroSuffix reports a Range header holding a suffix range of length zero.
func zeroSuffix(h string) bool {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok {
		return false
	}
	for _, r := range strings.Split(spec, ",") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(r), "-"); ok && strings.Trim(n, "0") == "" && n != "" {
			return true
		}
	}
	return false
}

// rangeGuard turns ServeContent's plain-text 416 into the error envelope.
type rangeGuard struct {
	http.ResponseWriter
	req      *http.Request
	log      *slog.Logger
	size     int64
	replaced bool
}

func (g *rangeGuard) WriteHeader(code int) {
	if code == http.StatusRequestedRangeNotSatisfiable {
		g.replaced = true
		for _, k := range []string{"Content-Disposition", "ETag", "Cache-Control", "Content-Range"} {
			g.Header().Del(k)
		}
		e := apierr.New(code, api.ErrorBodyCodeValidationError, "the range is outside the content").
			WithDetails(api.FieldError{Field: "header.Range", Message: fmt.Sprintf("not satisfiable: the content is %d bytes", g.size)}).
			WithHeader("Content-Range", fmt.Sprintf("bytes */%d", g.size))
		apierr.Write(g.ResponseWriter, g.req, g.log, e)
		return
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *rangeGuard) Write(b []byte) (int, error) {
	if g.replaced {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

func (g *rangeGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// ContentDisposition is "attachment" with an ASCII fallback name and the name as RFC 5987
// filename*, so every browser saves the file under its real name and none can be tricked
// by quotes or newlines in it. Control characters (C0, DEL, C1) and bidi controls are left
// out (a U+202E can make "invoice\u202Efdp.exe" show as "invoiceexe.pdf"), invalid UTF-8
// becomes U+FFFD, and a name left empty is "download".
func ContentDisposition(name string) string {
	valid := utf8.ValidString(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, "\uFFFD"))
	if name == "" {
		name = "download"
	}
	var ascii, enc strings.Builder
	for _, r := range name {
		if r < 0x80 && r != '"' && r != '\\' {
			ascii.WriteRune(r)
		} else {
			ascii.WriteByte('_')
		}
	}
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			enc.WriteByte(b)
		} else {
			fmt.Fprintf(&enc, "%%%02X", b)
		}
	}
	fallback := ascii.String()
	if !valid {
		fallback = "download"
	}
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + enc.String()
}

// isAttrChar is RFC 5987's attr-char.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
