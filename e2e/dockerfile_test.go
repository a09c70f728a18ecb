package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type instruction struct {
	cmd   string
	args  []string
	flags []string
	raw   string
}

func parseDockerfile(t *testing.T) [][]instruction {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	var stages [][]instruction
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToUpper(n.Value), flags: n.Flags, raw: n.Original}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			// An ARG before the first FROM parameterises the FROM lines themselves.
			if in.cmd != "ARG" {
				t.Fatalf("%s before the first FROM", in.raw)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages: not a multi-stage build", len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]

	var buildCmd string
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.raw, "make build") {
			buildCmd = in.raw
			if !strings.Contains(in.raw, "type=cache,target=/go/pkg/mod") || !strings.Contains(in.raw, "type=cache,target=/root/.cache/go-build") {
				t.Errorf("the build has no module and build caches: %s", in.raw)
			}
		}
	}
	if buildCmd == "" || !strings.Contains(buildCmd, "VERSION=") {
		t.Fatalf("the builder does not run `make build` with the version: %v", build)
	}
	makefile, _ := os.ReadFile("../Makefile")
	if !regexp.MustCompile(`CGO_ENABLED=0 go build \$\(GO_BUILD_FLAGS\)`).Match(makefile) ||
		!strings.Contains(string(makefile), `-X main.version=$(VERSION)`) {
		t.Error("make build is not the static, version-stamped build")
	}

	var user, healthcheck, entrypoint string
	var copies []string
	for _, in := range runtime {
		switch in.cmd {
		case "USER":
			user = in.args[0]
		case "HEALTHCHECK":
			healthcheck = in.raw
		case "ENTRYPOINT":
			entrypoint = strings.Join(in.args, " ")
		case "COPY":
			copies = append(copies, in.raw)
		case "RUN", "ADD":
			t.Errorf("the runtime stage runs or adds things: %s", in.raw)
		case "ENV", "ARG":
			if regexp.MustCompile(`(?i)(secret|password|api_key|token)`).MatchString(in.raw) {
				t.Errorf("a secret baked into the image: %s", in.raw)
			}
		}
	}
	if !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user) {
		t.Errorf("USER %q is not a numeric non-root user", user)
	}
	if !strings.Contains(healthcheck, `"/assistant", "healthcheck"`) {
		t.Errorf("HEALTHCHECK %q does not use the binary", healthcheck)
	}
	if entrypoint != "/assistant" {
		t.Errorf("ENTRYPOINT %q", entrypoint)
	}
	if !strings.HasPrefix(stages[len(stages)-1][0].raw, "FROM scratch") {
		t.Errorf("runtime base: %s", stages[len(stages)-1][0].raw)
	}
	joined := strings.Join(copies, "\n")
	if !strings.Contains(joined, "/src/bin/assistant /assistant") || !strings.Contains(joined, "ca-certificates.crt") {
		t.Errorf("runtime copies: %s", joined)
	}

	// No `# syntax=` directive: it would make BuildKit pull a frontend image, and the cache
	// mounts work with the engine's built-in frontend. The Go image is the official one by
	// default and can be replaced (the Docker end-to-end run builds with a local one).
	raw, _ := os.ReadFile("../Dockerfile")
	if regexp.MustCompile(`(?m)^#\s*syntax\s*=`).Match(raw) {
		t.Error("the Dockerfile has a # syntax= directive")
	}
	if !strings.Contains(string(raw), "ARG GO_IMAGE=golang:1.26-bookworm") || !strings.HasPrefix(build[0].raw, "FROM ${GO_IMAGE}") {
		t.Errorf("the builder image is not ${GO_IMAGE} defaulting to the official golang image: %s", build[0].raw)
	}

	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(".dockerignore is missing")
	}
	for _, must := range []string{".git", ".data", ".env"} {
		if !strings.Contains(string(ignore), must+"\n") {
			t.Errorf(".dockerignore does not exclude %s", must)
		}
	}
}
