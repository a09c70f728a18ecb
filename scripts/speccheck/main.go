// Command speccheck loads an OpenAPI document the way kin-openapi's users do (the loader,
// then Validate with the document's examples checked) and prints the document as canonical
// JSON (keys sorted), so scripts/spec-portability.sh can compare what each YAML parser read.
//
//	go run ./scripts/speccheck api/openapi.yaml > spec.json
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: speccheck <openapi.yaml>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "kin-openapi:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	// The raw tree, not kin-openapi's model: the comparison is of what the YAML says, and the
	// model would drop or reorder what it does not know.
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var tree any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	out, err := json.Marshal(tree) // encoding/json sorts map keys
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	_, err = os.Stdout.Write(append(out, '\n'))
	return err
}
