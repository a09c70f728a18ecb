package validation

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"assistant/gen/api"
)

// TextMessage is the detail for a value that PostgreSQL could not store as text: it
// refuses a NUL character (SQLSTATE 22021, and 22P05 inside jsonb) and bytes that are not
// UTF-8.
const TextMessage = "must be UTF-8 text without NUL characters"

// maxTextDetails bounds the details of one answer (a 1 MiB body could hold 100,000 NULs).
const maxTextDetails = 50

// ValidText reports whether s can be stored as PostgreSQL text: valid UTF-8 without NUL.
func ValidText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// declared are an operation's query and header parameters, the only ones a handler can
// read (the generated wrapper binds nothing else).
type declared struct{ query, header []string }

func declaredParams(item *openapi3.PathItem, op *openapi3.Operation) declared {
	var d declared
	for _, ps := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range ps {
			switch {
			case p.Value == nil:
			case p.Value.In == openapi3.ParameterInQuery:
				d.query = append(d.query, p.Value.Name)
			case p.Value.In == openapi3.ParameterInHeader:
				d.header = append(d.header, p.Value.Name)
			}
		}
	}
	return d
}

// textDetails names every parameter and JSON body string (keys included) that PostgreSQL
// could not store. It is the one place this is checked: handlers trust that the text they
// get is storable. body is the raw request body, or nil.
func textDetails(r *http.Request, params map[string]string, d declared, body []byte) []api.FieldError {
	var out []api.FieldError
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !ValidText(params[k]) {
			out = append(out, api.FieldError{Field: "path." + k, Message: TextMessage})
		}
	}
	if len(d.query) > 0 {
		out = append(out, queryText(r.URL.RawQuery, d.query)...)
	}
	for _, h := range d.header {
		if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok && !allValid(v) {
			out = append(out, api.FieldError{Field: "header." + h, Message: TextMessage})
		}
	}
	if body != nil {
		out = append(out, bodyText(body)...)
	}
	if len(out) > maxTextDetails {
		out = out[:maxTextDetails]
	}
	return out
}

// queryText checks the values of the named query parameters. Only a query that can
// decode to a NUL or a byte above 0x7f (%00, %80-%FF or a raw such byte) is parsed here.
func queryText(raw string, names []string) []api.FieldError {
	suspect := false
	for i := 0; i < len(raw) && !suspect; i++ {
		c := raw[i]
		suspect = c >= 0x80 || c == '%' && i+2 < len(raw) && (raw[i+1] == '0' && raw[i+2] == '0' || strings.IndexByte("89abcdefABCDEF", raw[i+1]) >= 0)
	}
	if !suspect {
		return nil
	}
	q, _ := url.ParseQuery(raw) // the pairs that do parse; the validator reports the rest
	var out []api.FieldError
	for _, k := range names {
		if !allValid(q[k]) {
			out = append(out, api.FieldError{Field: "query." + k, Message: TextMessage})
		}
	}
	return out
}

func allValid(vs []string) bool {
	for _, v := range vs {
		if !ValidText(v) {
			return false
		}
	}
	return true
}

// nulEscape is how a NUL appears in JSON: it cannot appear raw.
var nulEscape = []byte(`\u0000`)

// bodyText names the strings of a JSON body that hold a NUL or bytes that are not UTF-8.
// encoding/json would quietly turn such bytes into U+FFFD, so they are first rewritten as
// the escape of a NUL, which the same walk then finds at its field. Most bodies pass the
// first test, which costs a scan of the bytes.
func bodyText(body []byte) []api.FieldError {
	valid := utf8.Valid(body)
	lone := loneSurrogates(body)
	if valid && !bytes.Contains(body, nulEscape) && lone == nil {
		return nil
	}
	if lone != nil {
		// "\ud800" alone is no character: encoding/json would store U+FFFD instead.
		body = bytes.Clone(body)
		for _, i := range lone {
			copy(body[i:], nulEscape)
		}
	}
	var whole []api.FieldError
	if !valid {
		whole = []api.FieldError{{Field: "body", Message: TextMessage}}
		body = bytes.ToValidUTF8(body, nulEscape)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return whole // not JSON: the validator says so; only bad bytes are named here
	}
	var out []api.FieldError
	walkText("body", v, &out)
	if len(out) == 0 {
		return whole // bytes outside any string, or a backslash before them
	}
	return out
}

// loneSurrogates returns where the escapes of unpaired UTF-16 surrogates ("\ud800" not
// followed by a low surrogate, or a low one alone) start in a JSON text.
func loneSurrogates(b []byte) []int {
	if !bytes.Contains(b, []byte(`\u`)) {
		return nil
	}
	var out []int
	surrogate := func(i int) (r rune, ok bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		if err != nil || v < 0xD800 || v > 0xDFFF {
			return 0, false
		}
		return rune(v), true
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := surrogate(i)
		if !ok {
			i++ // an escaped character: "\\" must not start an escape
			continue
		}
		if r < 0xDC00 {
			if low, ok := surrogate(i + 6); ok && low >= 0xDC00 {
				i += 11 // a valid pair
				continue
			}
		}
		out = append(out, i)
		i += 5
	}
	return out
}

// walkText names fields the way kin-openapi's schema errors are named (see schema):
// "body" and the JSON pointer's segments joined with dots.
func walkText(field string, v any, out *[]api.FieldError) {
	if len(*out) >= maxTextDetails {
		return
	}
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			*out = append(*out, api.FieldError{Field: field, Message: TextMessage})
		}
	case []any:
		for i, e := range x {
			walkText(field+"."+strconv.Itoa(i), e, out)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if strings.IndexByte(k, 0) >= 0 {
				*out = append(*out, api.FieldError{Field: field + "." + strings.ReplaceAll(k, "\x00", `\u0000`),
					Message: "names " + TextMessage})
				continue
			}
			walkText(field+"."+k, x[k], out)
		}
	}
}
