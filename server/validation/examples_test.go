package validation_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"assistant/gen/api"
	"assistant/server/validation"
)

// TestExamples requires a request example for every operation with a body and a response
// example for every success response with one, and checks each JSON example against its
// schema with the validator's own options (formats included): an example is what a client
// author copies first, and generated SDKs and docs show it. The events of an event-stream
// example are checked against the event payload schemas.
func TestExamples(t *testing.T) {
	t.Parallel()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			where := fmt.Sprintf("%s %s (%s)", method, path, op.OperationID)
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					checked += checkExample(t, spec, where+" request "+ct, ct, mt)
				}
			}
			for code, resp := range op.Responses.Map() {
				if !strings.HasPrefix(code, "2") {
					continue
				}
				for ct, mt := range resp.Value.Content {
					checked += checkExample(t, spec, where+" response "+code+" "+ct, ct, mt)
				}
			}
		}
	}
	// Error responses are components shared by the operations: each has its example too.
	for name, resp := range spec.Components.Responses {
		for ct, mt := range resp.Value.Content {
			checked += checkExample(t, spec, "response "+name+" "+ct, ct, mt)
		}
	}
	if checked < 75 {
		t.Errorf("checked %d examples; the spec has more operations than that", checked)
	}
}

// checkExample checks one media type's example and returns how many values it checked.
func checkExample(t *testing.T, spec *openapi3.T, where, contentType string, mt *openapi3.MediaType) int {
	t.Helper()
	var examples []any
	if mt.Example != nil {
		examples = append(examples, mt.Example)
	}
	for _, e := range mt.Examples {
		examples = append(examples, e.Value.Value)
	}
	if len(examples) == 0 {
		t.Errorf("%s: no example", where)
		return 0
	}
	for _, ex := range examples {
		switch {
		case contentType == "application/json":
			if err := mt.Schema.Value.VisitJSON(normalize(t, ex), validation.SchemaOptions()...); err != nil {
				t.Errorf("%s: the example breaks the schema: %v", where, err)
			}
		case contentType == "text/event-stream":
			checkEvents(t, spec, where, ex)
		default:
			// Binary downloads and multipart uploads: an illustration, not a value to check.
		}
	}
	return len(examples)
}

// checkEvents checks each event of a server-sent events example against its payload schema.
func checkEvents(t *testing.T, spec *openapi3.T, where string, ex any) {
	t.Helper()
	s, ok := ex.(string)
	if !ok {
		t.Errorf("%s: the example is not the stream's text", where)
		return
	}
	schemas := map[string]string{"delta": "DeltaEvent", "done": "DoneEvent", "error": "ErrorEvent"}
	for block := range strings.SplitSeq(strings.TrimSpace(s), "\n\n") {
		var event, data string
		for line := range strings.SplitSeq(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		if !slices.Contains([]string{"message", "delta", "done", "error"}, event) {
			t.Errorf("%s: event %q is not one the stream sends", where, event)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Errorf("%s: the %s event's data is not JSON: %v", where, event, err)
			continue
		}
		name, ok := schemas[event]
		if !ok {
			continue // the message event's example elides the stored message
		}
		if err := spec.Components.Schemas[name].Value.VisitJSON(v, validation.SchemaOptions()...); err != nil {
			t.Errorf("%s: the %s event breaks %s: %v", where, event, name, err)
		}
	}
}

// normalize turns a YAML-decoded example into what encoding/json would decode, as a
// request body is decoded.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
