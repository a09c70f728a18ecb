package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"assistant/gen/api"
	"assistant/server/testutil/apitest"
	"assistant/server/validation"
)

// Text PostgreSQL cannot store (a NUL; bytes that are not UTF-8) is a 422 naming the field,
// before anything is written, wherever the API takes text. The cases come from the spec:
// every string field of every JSON request body (at any depth), every string query, path
// and header parameter of every operation.
func TestUnstorableTextIs422(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s := env.Register("text@example.com", "correct horse battery")
	token := s.AccessToken
	r := env.As(token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "kept", "system_prompt": "kept"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.Body)
	}
	var conv api.Conversation
	r.JSON(t, &conv)
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	before := fingerprint(t, env)

	cases := 0
	paths := spec.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := spec.Paths.Value(path)
		for method, op := range item.Operations() {
			name := method + " " + path
			target := strings.NewReplacer("{conversation_id}", conv.Id.String()).Replace(path)
			for strings.Contains(target, "{") {
				a, b := strings.Index(target, "{"), strings.Index(target, "}")
				target = target[:a] + uuid.NewString() + target[b+1:]
			}
			// A body that is valid, or nil for operations without a JSON body.
			var schema *openapi3.Schema
			if op.RequestBody != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
					schema = mt.Schema.Value
				}
			}
			base := func() any {
				if schema == nil {
					return nil
				}
				return bodyValue(schema, nil)
			}
			send := func(u string, body any, header http.Header, field string) {
				t.Helper()
				cases++
				req := env.Request(method, "/api/v1"+u, body)
				req.Header.Set("Authorization", "Bearer "+token)
				for k, v := range header {
					req.Header[k] = v
				}
				r := env.Do(req)
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Errorf("%s, %s: %d, want 422\n%s", name, field, r.StatusCode, r.Body)
					return
				}
				e := r.Envelope(t)
				if e.Details == nil || !slices.Contains(*e.Details, api.FieldError{Field: field, Message: validation.TextMessage}) {
					t.Errorf("%s: details do not name %s\n%s", name, field, r.Body)
				}
			}

			// Every string field of the body, each in a body otherwise valid.
			if schema != nil {
				for _, f := range stringFields(schema, nil) {
					send(target, bodyValue(schema, f), nil, "body."+strings.Join(f, "."))
				}
				// Bytes that are not UTF-8 inside a string, which encoding/json would
				// have turned into U+FFFD.
				if fs := stringFields(schema, nil); len(fs) > 0 {
					raw := strings.Replace(mustJSON(t, bodyValue(schema, fs[0])), `a\u0000`, "a\xff", 1)
					send(target, raw, nil, "body."+strings.Join(fs[0], "."))
				}
			}
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				pv := p.Value
				if pv.Schema == nil || !pv.Schema.Value.Type.Is("string") {
					continue
				}
				field := pv.In + "." + pv.Name
				switch pv.In {
				case "query":
					for _, bad := range []string{"a%00b", "a%FFb", "a\xffb"} {
						send(target+"?"+pv.Name+"="+bad, base(), nil, field)
					}
				case "path":
					p := strings.Replace(path, "{"+pv.Name+"}", "a%00b", 1)
					for strings.Contains(p, "{") {
						a, b := strings.Index(p, "{"), strings.Index(p, "}")
						p = p[:a] + uuid.NewString() + p[b+1:]
					}
					send(p, base(), nil, field)
				case "header":
					send(target, base(), http.Header{http.CanonicalHeaderKey(pv.Name): {"1\xff"}}, field)
				}
			}
		}
	}
	if cases < 40 {
		t.Errorf("only %d cases: the walk of the spec missed fields", cases)
	}
	t.Logf("%d requests", cases)

	if after := fingerprint(t, env); after != before {
		t.Errorf("the database changed:\nbefore %s\nafter  %s", before, after)
	}
	r = env.As(token, http.MethodGet, "/api/v1/conversations/"+conv.Id.String(), nil)
	var got api.Conversation
	r.JSON(t, &got)
	if got.Title != "kept" || got.SystemPrompt == nil || *got.SystemPrompt != "kept" {
		t.Errorf("the conversation changed: %s", r.Body)
	}
}

// An upload's filename bypasses the body validator: it is metadata, cleaned rather than
// refused (see files.CleanFilename), so a NUL or bytes that are not UTF-8 never reach the
// database, and the upload succeeds.
func TestUploadFilenameTextIsCleaned(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("upload-text@example.com", "correct horse battery").AccessToken
	for disposition, want := range map[string]string{
		`form-data; name="file"; filename*=UTF-8''a%00b.txt`: "ab.txt",
		`form-data; name="file"; filename*=UTF-8''a%FFb.txt`: "ab.txt",
		"form-data; name=\"file\"; filename=\"a\xffb.txt\"":  "ab.txt",
	} {
		body, ct := apitest.Multipart(disposition, strings.NewReader("content"))
		req := env.Request(http.MethodPost, "/api/v1/files", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		r := env.Do(req)
		if r.StatusCode != http.StatusCreated {
			t.Errorf("%q: %d %s", disposition, r.StatusCode, r.Body)
			continue
		}
		var f api.File
		r.JSON(t, &f)
		if f.Filename != want {
			t.Errorf("%q: stored as %q, want %q", disposition, f.Filename, want)
		}
	}
}

// stringFields lists the paths (JSON pointer segments) of the string fields of s, at any
// depth; an array's items are reached through index 0.
func stringFields(s *openapi3.Schema, prefix []string) [][]string {
	switch {
	case s.Type.Is("string"):
		return [][]string{slices.Clone(prefix)}
	case s.Type.Is("object"):
		var out [][]string
		for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
			out = append(out, stringFields(s.Properties[name].Value, append(prefix, name))...)
		}
		return out
	case s.Type.Is("array"):
		return stringFields(s.Items.Value, append(prefix, "0"))
	}
	return nil
}

// bodyValue is a valid value of s, except at target (when not nil): a string there holds
// a NUL.
func bodyValue(s *openapi3.Schema, target []string) any {
	switch {
	case s.Type.Is("object"):
		m := map[string]any{}
		for _, name := range s.Required {
			m[name] = bodyValue(s.Properties[name].Value, nil)
		}
		if len(target) > 0 {
			m[target[0]] = bodyValue(s.Properties[target[0]].Value, target[1:])
		} else if len(m) == 0 && s.MinProps > 0 {
			name := slices.Sorted(maps.Keys(s.Properties))[0]
			m[name] = bodyValue(s.Properties[name].Value, nil)
		}
		return m
	case s.Type.Is("array"):
		if len(target) > 0 {
			return []any{bodyValue(s.Items.Value, target[1:])}
		}
		return []any{}
	case s.Type.Is("string"):
		if target != nil {
			return "a\x00" + strings.Repeat("b", int(max(s.MinLength, 2))-2)
		}
		switch {
		case len(s.Enum) > 0:
			return s.Enum[0]
		case s.Format == "uuid":
			return uuid.NewString()
		case s.Format == "email":
			return "someone@example.com"
		case s.Format == "date-time":
			return time.Now().UTC().Format(time.RFC3339)
		}
		return strings.Repeat("x", int(max(s.MinLength, 1)))
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return false
	}
	return nil
}

// fingerprint sums every table's rows.
func fingerprint(t *testing.T, env *apitest.Env) string {
	t.Helper()
	ctx := context.Background()
	rows, err := env.Pool.Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		var n int
		var sum string
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM %s x`, table)
		if err := env.Pool.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d:%.8s ", table, n, sum)
	}
	return b.String()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
