package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"assistant/server/httpapi"
	"assistant/server/llm"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/fakeopenai"
)

// TestExample runs the example against the real server: it registers, prints the streamed
// reply and saves a PDF.
func TestExample(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New(t)
	fake.Set(fakeopenai.Behavior{Chunks: []string{"Alfama ", "and ", "Belém."}})
	env := apitest.New(t, apitest.WithProvider(llm.NewOpenAI(fake.BaseURL(), "test-key", "fake-model", 5*time.Second)))
	pdf := filepath.Join(t.TempDir(), "out.pdf")
	var out bytes.Buffer
	err := run(t.Context(), options{
		url: env.Server.URL + httpapi.BasePath, email: "ada@example.com", password: "correct horse battery",
		register: true, question: "What should I see in Lisbon?", pdf: pdf,
	}, env.Client, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	want := "Alfama and Belém.\nsaved " + pdf + " (" + itoa(len(b)) + " bytes)\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("saved %q…, want a PDF", b[:min(8, len(b))])
	}
}

func itoa(n int) string { return fmt.Sprint(n) }
