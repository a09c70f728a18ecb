// Package api holds the OpenAPI document, the source of truth for the HTTP contract.
package api

import _ "embed"

// Spec is api/openapi.yaml byte for byte, served as /api/v1/openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte
