// Package docs serves the OpenAPI document and a Swagger UI page whose assets are
// embedded in the binary (no CDN: it works offline and under a strict CSP).
package docs

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5/static"
	"github.com/swaggest/swgui/v5emb"

	"assistant/server/apierr"
)

// Mount registers GET openapi.yaml, openapi.json and docs (with its assets) on r, which is
// the /api/v1 router. yaml is the original document; json is the same contract as JSON.
func Mount(r chi.Router, base string, yaml, json []byte, log *slog.Logger) {
	r.Get("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(yaml)
	})
	r.Get("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(json)
	})

	ui := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "Assistant API",
		SwaggerJSON: base + "/openapi.json",
		BasePath:    base + "/docs/",
		HideCurl:    false,
	})
	page, csp := render(ui, base+"/docs/")
	assets := assetNames()

	serve := func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, base+"/docs")
		name = strings.TrimPrefix(name, "/")
		switch {
		case name == "":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", csp)
			_, _ = w.Write(page)
		case assets[name]:
			ui.ServeHTTP(w, r)
		default:
			apierr.Write(w, r, log, apierr.ErrNotFound)
		}
	}
	r.Get("/docs", serve)
	r.Get("/docs/*", serve)
}

var (
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	inlineStyle  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// render produces the page once (it never changes) and the policy that admits exactly its
// inline scripts and styles, by hash. nginx leaves this route's policy alone.
func render(ui http.Handler, path string) ([]byte, string) {
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	page := rec.Body.Bytes()
	hashes := func(re *regexp.Regexp) string {
		var out []string
		for _, m := range re.FindAllSubmatch(page, -1) {
			sum := sha256.Sum256(m[1])
			out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
		return strings.Join(out, " ")
	}
	csp := "default-src 'none'; script-src 'self' " + hashes(inlineScript) +
		"; style-src 'self' " + hashes(inlineStyle) +
		"; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return page, csp
}

// assetNames lists the files the UI may ask for (the embedded ones, without .gz).
func assetNames() map[string]bool {
	names := map[string]bool{}
	_ = fs.WalkDir(static.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names[strings.TrimSuffix(p, ".gz")] = true
		}
		return nil
	})
	return names
}
