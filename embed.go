// Package assistant holds the files the binary carries: the OpenAPI document, the source of
// truth for the HTTP contract, and the dbmate migrations, so that `assistant serve` and
// `assistant migrate` need nothing on disk.
package assistant

import "embed"

// Spec is api/openapi.yaml byte for byte, served as /api/v1/openapi.yaml.
//
//go:embed api/openapi.yaml
var Spec []byte

// Migrations holds db/migrations/*.sql.
//
//go:embed db/migrations/*.sql
var Migrations embed.FS
