# The project's commands. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The Dockerfile builds with exactly these flags.
GO_BUILD_FLAGS := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

DEV_PG_DIR  := .data/postgres
DEV_PG_PORT := 54329
DEV_DATABASE_URL := postgres://postgres@127.0.0.1:$(DEV_PG_PORT)/assistant?sslmode=disable

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/assistant
	CGO_ENABLED=0 go build $(GO_BUILD_FLAGS) -o bin/assistant ./cmd/assistant

.PHONY: run
run: build ## serve on :8080 with docs; without DATABASE_URL, on a private PostgreSQL under .data/
	@set -euo pipefail; \
	if [ -z "$${DATABASE_URL:-}" ]; then \
	  scripts/postgres.sh start $(DEV_PG_DIR) $(DEV_PG_PORT); \
	  export DATABASE_URL='$(DEV_DATABASE_URL)'; \
	fi; \
	bin/assistant migrate; \
	exec bin/assistant serve

.PHONY: test
test: ## run every test against real services that it starts itself
	scripts/test.sh

.PHONY: fuzz
fuzz: ## every fuzz target for FUZZTIME (1m) each, then the API property run for PROPERTY_TIME (5m)
	FUZZTIME=$${FUZZTIME:-1m} PROPERTY_TIME=$${PROPERTY_TIME:-5m} scripts/fuzz.sh

.PHONY: e2e
e2e: ## deployment checks: compose and Dockerfile parsed, binary as non-root, real nginx, Chromium
	scripts/e2e.sh

.PHONY: sdk-ts
sdk-ts: ## the TypeScript SDK: types current, tsc build, Node journey and Chromium page test against the real server
	scripts/sdk-ts.sh

.PHONY: e2e-docker
e2e-docker: ## the compose stack under a real Docker engine (scripts/docker-e2e.sh; root)
	scripts/docker-e2e.sh

.PHONY: bench
bench: ## throughput and latency against a plain net/http floor, and micro-benchmarks
	scripts/bench.sh

.PHONY: generate
generate: ## regenerate gen/ from api/openapi.yaml and sqlc/, and the TypeScript SDK's types
	go tool oapi-codegen -config api/oapi-codegen.yaml api/openapi.yaml
	go tool oapi-codegen -config sdk/go/assistant/oapi-codegen.yaml api/openapi.yaml
	CGO_ENABLED=0 go tool -modfile=tools/go.mod sqlc generate
	scripts/sdk-ts.sh generate

.PHONY: schema
schema: ## rewrite db/schema.sql from the migrations (on a scratch database)
	scripts/schema.sh

.PHONY: lint-spec
lint-spec: ## lint api/openapi.yaml with Redocly CLI and Spectral's OWASP rules (pinned in tools/redocly, tools/spec)
	cd tools/redocly && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true tools/redocly/node_modules/.bin/redocly lint --config api/redocly.yaml api/openapi.yaml
	cd tools/spec && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	tools/spec/node_modules/.bin/spectral lint --ruleset api/spectral.yaml --fail-severity error --display-only-failures api/openapi.yaml

.PHONY: verify
verify: generate schema lint-spec ## fail when generated code or db/schema.sql is stale, the spec lints dirty, is not portable or breaks the last release
	@if [ -n "$$(git status --porcelain -- gen/ sdk/go/assistant/client.gen.go db/schema.sql sdk/typescript/src/generated/)" ]; then \
	  echo "generated files are stale; run 'make generate schema' and commit:"; \
	  git status --porcelain -- gen/ sdk/go/assistant/client.gen.go db/schema.sql sdk/typescript/src/generated/; git diff --stat -- gen/ sdk/go/assistant/client.gen.go db/schema.sql sdk/typescript/src/generated/; exit 1; fi
	go vet ./...
	cd e2e && go vet ./...
	scripts/spec-portability.sh
	scripts/spec-compat.sh
	scripts/spec-compat.sh self-test
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v -e '^gen/' -e '^third_party/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v -e '^gen/' -e '^third_party/'); echo "gofmt needed"; exit 1; }

.PHONY: clean
clean: ## stop the development database and remove build output
	-scripts/postgres.sh stop $(DEV_PG_DIR)
	rm -rf bin
