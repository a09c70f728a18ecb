package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/testutil/apitest"
)

// A client that sends part of a body and closes its side has gone: nothing is stored, the
// access line says 499, and nothing is sent (net/http used to add an empty 200, which a
// half-closed client read as success; the validator had called the cut body a 401).
func TestBodyCutShortByAClientThatLeft(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.Server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"title\":\"cut", token)
	_ = conn.(*net.TCPConn).CloseWrite()
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("a client that left was sent %d %q", resp.StatusCode, b)
	}
	found := false
	for _, l := range env.Logs.Lines(t) {
		if l["msg"] == "request" && l["route"] == "/api/v1/conversations" && l["method"] == "POST" {
			found = true
			if l["status"] != float64(499) {
				t.Errorf("access line: %v", l)
			}
		}
		if l["level"] == "ERROR" {
			t.Errorf("error line: %v", l)
		}
	}
	if !found {
		t.Error("no access line for the cut request")
	}
	var list api.ConversationList
	env.As(token, http.MethodGet, "/api/v1/conversations", nil).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("a conversation was created from a cut body: %+v", list.Items)
	}
}

// "\ud800" alone is no character: it was stored as U+FFFD without a word.
func TestLoneSurrogateIs422(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	req := env.Request(http.MethodPost, "/api/v1/conversations", `{"title":"a\ud800b","system_prompt":"\ud83d\ude00 ok"}`)
	req.Header.Set("Authorization", "Bearer "+token)
	r := env.Do(req)
	if e := r.Envelope(t); r.StatusCode != http.StatusUnprocessableEntity || e.Details == nil || len(*e.Details) != 1 || (*e.Details)[0].Field != "body.title" {
		t.Fatalf("got %d %s", r.StatusCode, r.Body)
	}
}
