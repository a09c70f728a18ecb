package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"pgregory.net/rapid"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/pagination"
	"assistant/server/testutil/apitest"
	"assistant/server/testutil/pgtest"
)

// The property run's knobs (environment variables, so `make fuzz` can raise them):
//
//	PROPERTY_TIME             how long to generate requests (default 15s)
//	PROPERTY_SEED             the first seed (default: random; printed either way); a
//	                          failing case's -rapid.seed given here is the run's first case
//	PROPERTY_REQUEST_TIMEOUT  a request taking longer is a hang (default 15s)
//	PROPERTY_KEEP_GOING       set: carry on after a failing round (to collect every bug)
func propertyEnv(t *testing.T) (budget time.Duration, seed uint64, perRequest time.Duration) {
	t.Helper()
	budget, perRequest = 15*time.Second, 15*time.Second
	if v := os.Getenv("PROPERTY_TIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PROPERTY_TIME: %v", err)
		}
		budget = d
	}
	if v := os.Getenv("PROPERTY_REQUEST_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PROPERTY_REQUEST_TIMEOUT: %v", err)
		}
		perRequest = d
	}
	seed = rand.Uint64() >> 12 // leaves room for the per-round offsets
	if v := os.Getenv("PROPERTY_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("PROPERTY_SEED: %v", err)
		}
		seed = s
	}
	return budget, seed, perRequest
}

// TestAPIProperties generates requests from api/openapi.yaml for every operation — valid
// ones, mutated ones and hostile ones (a Unicode corpus, NUL, control characters, huge
// words, wrong types, broken JSON, odd multipart) — with path parameters filled with real
// ids the test created as well as random ones, and sends them to the whole API on a real
// socket over a real database, for PROPERTY_TIME. Every response must be a documented
// status whose body matches the spec (apitest.Check), no 5xx, every error the envelope,
// and no request may hang; the server must be healthy afterwards. On a failure rapid
// shrinks the request and prints it.
func TestAPIProperties(t *testing.T) {
	t.Parallel()
	budget, seed, perRequest := propertyEnv(t)
	for name, value := range map[string]string{"rapid.nofailfile": "true", "rapid.shrinktime": "20s"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() == f.DefValue {
			_ = flag.Set(name, value)
		}
	}

	s := &sink{TB: t}
	pool, dbURL := pgtest.New(t)
	env := apitest.New(s, apitest.WithPool(pool, dbURL), apitest.WithConfig(func(c *config.Config) {
		// Auth rate limits stay on (their code runs) but high enough that the run is not
		// a long series of 429s.
		c.RateLimitAuthRequests = 1_000_000
	}))
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	// A panic on one of the server's own goroutines kills the test process before rapid can
	// print anything: the request in flight is kept in a file to read afterwards.
	inflight := filepath.Join(os.TempDir(), fmt.Sprintf("api-property-in-flight-%d.txt", os.Getpid()))
	t.Cleanup(func() { _ = os.Remove(inflight) })
	g := &generator{env: env, ops: operations(spec), timeout: perRequest, inflight: inflight}
	g.w.env, g.w.fatalf = env, s.Fatalf
	t.Logf("property run: seed %d (PROPERTY_SEED=%d to repeat), budget %s, %d operations; if the process dies, the request in flight is in %s",
		seed, seed, budget, len(g.ops), inflight)

	deadline := time.Now().Add(budget)
	s.set(nil)
	g.w.ensure()
	keepGoing := os.Getenv("PROPERTY_KEEP_GOING") != ""
	rounds, failed := 0, 0
	for ; time.Now().Before(deadline); rounds++ {
		// Each round is one rapid.Check (100 cases) from its own seed, in a subtest so that
		// with PROPERTY_KEEP_GOING a failure does not end the run.
		roundSeed := seed + uint64(rounds)<<20
		ok := t.Run(fmt.Sprintf("seed=%d", roundSeed), func(t *testing.T) {
			_ = flag.Set("rapid.seed", strconv.FormatUint(roundSeed, 10))
			shrinking := false
			rapid.Check(t, func(rt *rapid.T) {
				// Past the budget, new cases pass at once; a failure found just before it
				// is still shrunk.
				if time.Now().After(deadline) && !shrinking {
					return
				}
				s.set(rt)
				defer func() {
					s.set(nil)
					shrinking = shrinking || rt.Failed()
				}()
				g.w.ensure()
				g.check(rt)
			})
		})
		if !ok {
			failed++
			if !keepGoing {
				break
			}
		}
	}

	// The server is alive and healthy after the run.
	ctx, cancel := context.WithTimeout(context.Background(), perRequest)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.Server.URL+"/api/v1/health", nil)
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatalf("health check after the run: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health check after the run: %d %s", resp.StatusCode, body)
	}
	statuses := make([]string, 0, len(g.statuses))
	for code, n := range g.statuses {
		statuses = append(statuses, fmt.Sprintf("%d×%d", code, n))
	}
	slices.Sort(statuses)
	if testing.Verbose() {
		for _, o := range g.ops {
			t.Logf("  %-22s %v", o.op.OperationID, g.perOp[o.op.OperationID])
		}
	}
	t.Logf("property run: seed %d, %d requests (%d generated) in %d rounds (%d failed); statuses %s",
		seed, g.requests.Load()+g.w.requests, g.requests.Load(), rounds, failed, strings.Join(statuses, " "))
}

// sink is the testing.TB the API's checks report to: the current rapid case while one
// runs (so a bad response fails that case and rapid shrinks it), the test otherwise.
type sink struct {
	testing.TB
	mu  sync.Mutex
	cur *rapid.T
}

func (s *sink) set(rt *rapid.T) { s.mu.Lock(); s.cur = rt; s.mu.Unlock() }
func (s *sink) get() *rapid.T   { s.mu.Lock(); defer s.mu.Unlock(); return s.cur }
func (s *sink) Helper()         {}
func (s *sink) Errorf(format string, args ...any) {
	if rt := s.get(); rt != nil {
		rt.Errorf(format, args...)
		return
	}
	s.TB.Errorf(format, args...)
}

// Logf cuts apitest's dump of the whole server log on failure to its tail: a long run's
// log is megabytes, and the failing request is printed by the check itself.
func (s *sink) Logf(format string, args ...any) {
	if strings.HasPrefix(format, "server log:") && len(args) == 1 {
		if log, ok := args[0].(string); ok {
			lines := strings.Split(log, "\n")
			if len(lines) > 40 {
				log = "…\n" + strings.Join(lines[len(lines)-40:], "\n")
			}
			s.TB.Logf("server log (tail):\n%s", log)
			return
		}
	}
	s.TB.Logf(format, args...)
}
func (s *sink) Error(args ...any) { s.Errorf("%s", fmt.Sprint(args...)) }
func (s *sink) Fatalf(format string, args ...any) {
	if rt := s.get(); rt != nil {
		rt.Fatalf(format, args...)
		return
	}
	s.TB.Fatalf(format, args...)
}
func (s *sink) Fatal(args ...any) { s.Fatalf("%s", fmt.Sprint(args...)) }
func (s *sink) FailNow() {
	if rt := s.get(); rt != nil {
		rt.FailNow()
		return
	}
	s.TB.FailNow()
}

// operation is one method and path of the spec with its parameters (path-level ones
// merged in).
type operation struct {
	method, path string
	op           *openapi3.Operation
	params       []*openapi3.Parameter
}

func (o operation) String() string { return o.method + " " + o.path }

func operations(spec *openapi3.T) []operation {
	var ops []operation
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			o := operation{method: method, path: path, op: op}
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				o.params = append(o.params, p.Value)
			}
			ops = append(ops, o)
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.String(), b.String()) })
	return ops
}

// unicodeCorpus is text that has broken real systems: multi-codepoint emoji, flags, scripts
// of every direction and width, combining marks, astral letters, bidi overrides, zero-width
// characters, a 6,000-character word, NUL and other controls, and strings with meaning to
// SQL, shells, templates, paths and HTML.
var unicodeCorpus = []string{
	"👍🏽", "👋🏿", "👩🏾‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑🏻‍🤝‍🧑🏿", "🇵🇹", "🇯🇵", "🇺🇳", "😀", "❤️", "#️⃣",
	"漢字仮名交じり文", "中文测试", "日本語のテキスト", "한국어 텍스트", "각", "مرحبا بالعالم", "שלום עולם",
	"नमस्ते दुनिया", "क्षि", "e\u0301", "Z\u0364\u0351\u0313\u0300\u0489", "a\u0308\u0308\u0308\u0308",
	"𝕏", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𐐷", "𠜎", "\u202Egnp.exe", "abc\u202Edef\u202C", "\u2066x\u2069", "\u200E\u200F",
	"\u200B", "zero\u200Bwidth", "\u200C\u200D", "\uFEFF", "\u00AD", "\u2028\u2029", "\u0085",
	strings.Repeat("w", 6000), strings.Repeat("語", 6000), strings.Repeat("x", 5999) + "😀",
	"\x00", "a\x00b", "\x00\x00\x00", "\x01\x02\x1f", "\x7f", "\r\n", "\n\n", "\t", "\x1b[31mred\x1b[0m", "\b",
	"\"", "'", "\\", "`", "\"\\\"", "</script><script>alert(1)</script>", "<b>", "&amp;", "../../etc/passwd",
	"..\\..\\boot.ini", "/", "C:\\x", "%00", "%", "_", "%s%n", "' OR 1=1 --", "'; DROP TABLE users; --",
	"{{.}}", "${jndi:ldap://127.0.0.1/x}", "$(id)", "\uFFFD", "\uFFFE", "\uFFFF", "\U0010FFFF", "\U000E0041",
	" ", "  leading and trailing  ", "", "Ω≈ç√∫˜µ≤≥÷", "ﷺ", "\u0627\u0644\u0644\u0651\u0647", "**bold** _it_ `code`",
	"# heading\n\n- item\n\n```go\nfunc main() {}\n```", "| a | b |\n|---|---|\n| 1 | 2 |", "[link](javascript:alert(1))",
	"null", "true", "0", "-1", "1e309", "NaN",
}

// hostileIDs are path segments no client should send, already percent-encoded as sent.
var hostileIDs = []string{"%00", "%ff%fe", "..%2F..%2Fetc", "%2e%2e", "null", "0", "-1", strings.Repeat("9", 300),
	"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "%F0%9F%91%8D%F0%9F%8F%BD",
	"%E2%80%AE", "%20", "x"}

// uniform draws an index in [0, n) with equal chances: rapid's own integers lean hard
// towards small values, which would make the first operations and corpus entries, and every
// "p percent" choice, far likelier than meant. A drawn 0 (what rapid shrinks towards) stays
// 0, so shrinking still ends at the first choice.
func uniform(rt *rapid.T, label string, n int) int {
	u := rapid.Uint64().Draw(rt, label)
	if u == 0 {
		return 0
	}
	// splitmix64's finaliser spreads rapid's small values over the whole range.
	u += 0x9e3779b97f4a7c15
	u = (u ^ (u >> 30)) * 0xbf58476d1ce4e5b9
	u = (u ^ (u >> 27)) * 0x94d049bb133111eb
	u ^= u >> 31
	return int(u % uint64(n))
}

// oneOf draws one of xs, each equally likely.
func oneOf[T any](rt *rapid.T, label string, xs []T) T { return xs[uniform(rt, label, len(xs))] }

// percent is true p times in a hundred (and false when shrunk to nothing).
func percent(rt *rapid.T, label string, p int) bool {
	return 99-uniform(rt, label, 100) < p
}

// text draws a string: mostly pieces of the corpus, sometimes rapid's arbitrary Unicode.
func text(rt *rapid.T, label string) string {
	switch uniform(rt, label+".kind", 10) {
	case 0, 1, 2, 3, 4, 5:
		pieces := rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) string { return oneOf(rt, "piece", unicodeCorpus) }), 1, 5).Draw(rt, label+".pieces")
		return strings.Join(pieces, oneOf(rt, label+".sep", []string{"", " ", "\n"}))
	case 6, 7:
		return rapid.String().Draw(rt, label)
	case 8:
		return rapid.StringMatching(`[a-z]{1,12}( [a-z]{1,12}){0,4}`).Draw(rt, label)
	default:
		return oneOf(rt, label, []string{"hello", "Lisbon in two days?", "a", "Ada"})
	}
}

// clampRunes fits s into [lo, hi] runes (the spec's lengths count runes).
func clampRunes(s string, lo uint64, hi *uint64) string {
	r := []rune(s)
	if hi != nil && uint64(len(r)) > *hi {
		r = r[:*hi]
	}
	for uint64(len(r)) < lo {
		r = append(r, 'x')
	}
	return string(r)
}

// world is what the test created, so generated requests can name real things: the user
// (and a second one, whose ids must be 404 to the first), a conversation with an exchange,
// a file, an export, an API key and a share link of the conversation. A request that
// deletes one of them has it recreated.
type world struct {
	env      *apitest.Env
	fatalf   func(string, ...any)
	requests int64
	n        int

	email, password, token, refresh, apiKey, keyID string
	conv, userMsg, reply, file, export             string
	share, shareToken                              string
	otherToken, otherConv, otherFile               string
}

const worldTitle = "Unicode 👩‍👩‍👧‍👦 🇵🇹 漢字 한국어 مرحبا שלום नमस्ते e\u0301 𝕏 \u202Eevil\u202C zero\u200Bwidth"

func (w *world) call(token, method, path string, body any, want int) []byte {
	w.requests++
	r := w.env.As(token, method, path, body)
	if r.StatusCode != want {
		w.fatalf("fixture %s %s: %d %s", method, path, r.StatusCode, r.Body)
	}
	return r.Body
}

func decodeID(b []byte, path ...string) string {
	var v any
	_ = json.Unmarshal(b, &v)
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func (w *world) register() (token, refresh string) {
	w.n++
	w.requests++
	s := w.env.Register(fmt.Sprintf("prop-%d@example.com", w.n), "correct horse battery")
	return s.AccessToken, s.RefreshToken
}

// ensure recreates whatever is missing.
func (w *world) ensure() {
	if w.token == "" {
		w.token, w.refresh = w.register()
		w.email, w.password = fmt.Sprintf("prop-%d@example.com", w.n), "correct horse battery"
		w.conv, w.file, w.export, w.keyID, w.apiKey, w.share = "", "", "", "", "", ""
	}
	if w.conv == "" {
		w.conv = decodeID(w.call(w.token, http.MethodPost, "/api/v1/conversations", map[string]any{"title": worldTitle}, http.StatusCreated), "id")
		b := w.call(w.token, http.MethodPost, "/api/v1/conversations/"+w.conv+"/messages",
			map[string]any{"content": "# " + worldTitle + "\n\n**bold** 👍🏽 `code`"}, http.StatusCreated)
		w.userMsg, w.reply = decodeID(b, "user_message", "id"), decodeID(b, "assistant_message", "id")
		w.export, w.share = "", ""
	}
	if w.share == "" {
		b := w.call(w.token, http.MethodPost, "/api/v1/conversations/"+w.conv+"/shares", map[string]any{}, http.StatusCreated)
		w.share, w.shareToken = decodeID(b, "id"), decodeID(b, "url_token")
	}
	if w.file == "" {
		w.requests++
		r := w.env.Upload(w.token, "notes 👍🏽 漢字.txt", []byte("text with 𝕏, \u202Ebidi and שלום\n"))
		if r.StatusCode != http.StatusCreated {
			w.fatalf("fixture upload: %d %s", r.StatusCode, r.Body)
		}
		w.file = decodeID(r.Body, "id")
	}
	if w.export == "" {
		w.export = decodeID(w.call(w.token, http.MethodPost, "/api/v1/conversations/"+w.conv+"/exports", map[string]any{"format": "json"}, http.StatusCreated), "id")
	}
	if w.keyID == "" {
		b := w.call(w.token, http.MethodPost, "/api/v1/users/me/api-keys", map[string]any{"name": "property 🔑", "current_password": w.password}, http.StatusCreated)
		w.keyID, w.apiKey = decodeID(b, "id"), decodeID(b, "key")
	}
	if w.otherToken == "" {
		w.otherToken, _ = w.register()
		w.otherConv, w.otherFile = "", ""
	}
	if w.otherConv == "" {
		w.otherConv = decodeID(w.call(w.otherToken, http.MethodPost, "/api/v1/conversations", map[string]any{"title": "someone else's"}, http.StatusCreated), "id")
	}
	if w.otherFile == "" {
		w.requests++
		r := w.env.Upload(w.otherToken, "theirs.txt", []byte("theirs"))
		if r.StatusCode != http.StatusCreated {
			w.fatalf("fixture upload: %d %s", r.StatusCode, r.Body)
		}
		w.otherFile = decodeID(r.Body, "id")
	}
}

// forget drops what a successful request removed or replaced.
func (w *world) forget(o operation, token string, path string, body any, resp []byte) {
	has := func(id string) bool { return id != "" && strings.Contains(path, id) }
	ours := token == w.token || token == w.apiKey
	switch o.op.OperationID {
	case "deleteMe":
		if ours {
			w.token = ""
		} else if token == w.otherToken {
			w.otherToken = ""
		}
	case "deleteConversation":
		if has(w.conv) {
			w.conv = ""
		}
		if has(w.otherConv) {
			w.otherConv = ""
		}
	case "deleteFile":
		if has(w.file) {
			w.file = ""
		}
		if has(w.otherFile) {
			w.otherFile = ""
		}
	case "deleteExport":
		if has(w.export) {
			w.export = ""
		}
	case "deleteShare":
		if has(w.share) {
			w.share = ""
		}
	case "deleteApiKey":
		if has(w.keyID) {
			w.keyID, w.apiKey = "", ""
		}
	case "changePassword":
		if m, ok := body.(map[string]any); ok && ours {
			if p, ok := m["new_password"].(string); ok {
				w.password = p
				w.keyID, w.apiKey = "", "" // a password change deletes the API keys
			}
		}
	case "updateMe":
		if ours {
			if e := decodeID(resp, "email"); e != "" {
				w.email = e
			}
		}
	case "refreshSession", "logout":
		if m, ok := body.(map[string]any); ok && m["refresh_token"] == w.refresh && w.refresh != "" {
			if t := decodeID(resp, "access_token"); t != "" {
				w.token, w.refresh = t, decodeID(resp, "refresh_token")
			} else {
				// A logout ends the session's access token too: start a new user.
				w.refresh, w.token = "", ""
			}
		}
	}
}

type generator struct {
	env      *apitest.Env
	ops      []operation
	w        world
	timeout  time.Duration
	inflight string
	requests atomic.Int64
	mu       sync.Mutex
	statuses map[int]int
	perOp    map[string]map[int]int
}

// value draws a value for schema: valid most of the time, otherwise mutated.
func (g *generator) value(rt *rapid.T, s *openapi3.Schema, name string, depth int) any {
	label := "body." + name
	if depth > 0 && percent(rt, label+".mutate", 8) {
		return g.hostileValue(rt, label)
	}
	switch {
	case len(s.Enum) > 0:
		return oneOf(rt, label, s.Enum)
	case s.Type.Is("object"):
		m := map[string]any{}
		names := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			required := slices.Contains(s.Required, k)
			if (required && !percent(rt, label+"."+k+".drop", 3)) || (!required && percent(rt, label+"."+k+".present", 60)) {
				m[k] = g.value(rt, s.Properties[k].Value, k, depth+1)
			}
		}
		if percent(rt, label+".extra", 4) {
			m[text(rt, label+".extraName")] = g.hostileValue(rt, label+".extra")
		}
		return m
	case s.Type.Is("array"):
		hi := uint64(4)
		if s.MaxItems != nil && *s.MaxItems < hi {
			hi = *s.MaxItems
		}
		if percent(rt, label+".long", 3) {
			hi = 50
		}
		n := rapid.IntRange(int(s.MinItems), int(max(hi, s.MinItems))).Draw(rt, label+".len")
		out := make([]any, n)
		for i := range out {
			out[i] = g.value(rt, s.Items.Value, name, depth+1)
		}
		return out
	case s.Type.Is("integer"):
		lo, hi := -1_000_000, 1_000_000
		if s.Min != nil {
			lo = int(*s.Min)
		}
		if s.Max != nil {
			hi = int(*s.Max)
		}
		if percent(rt, label+".outside", 15) {
			return oneOf(rt, label, []int{lo - 1, hi + 1, 0, -1, 1 << 40})
		}
		return rapid.IntRange(lo, hi).Draw(rt, label)
	case s.Type.Is("boolean"):
		return rapid.Bool().Draw(rt, label)
	case s.Type.Is("string"):
		return g.stringValue(rt, s, name, label)
	}
	return g.hostileValue(rt, label)
}

func (g *generator) stringValue(rt *rapid.T, s *openapi3.Schema, name, label string) string {
	w := &g.w
	switch {
	case s.Format == "uuid":
		return g.id(rt, name, label)
	case s.Format == "email" || name == "email":
		switch uniform(rt, label+".kind", 5) {
		case 0:
			return w.email
		case 1:
			return rapid.StringMatching(`[a-z0-9.+]{1,20}@example\.(com|org)`).Draw(rt, label)
		case 2:
			return text(rt, label+".local") + "@example.com"
		}
	case s.Format == "date-time":
		if percent(rt, label+".valid", 80) {
			d := time.Duration(rapid.Int64Range(-1e6, 1e8).Draw(rt, label+".offset")) * time.Second
			return time.Now().Add(d).UTC().Format(time.RFC3339Nano)
		}
	case name == "password" || name == "current_password":
		if percent(rt, label+".real", 30) {
			return w.password
		}
	case name == "refresh_token":
		if w.refresh != "" && percent(rt, label+".real", 20) {
			return w.refresh
		}
	}
	v := text(rt, label)
	if percent(rt, label+".fit", 85) {
		v = clampRunes(v, s.MinLength, s.MaxLength)
	}
	return v
}

// id is a real id of the kind the parameter names (the user's or someone else's), a random
// UUID, or anything else.
func (g *generator) id(rt *rapid.T, name, label string) string {
	w := &g.w
	var real []string
	switch name {
	case "conversation_id":
		real = []string{w.conv, w.conv, w.conv, w.otherConv}
	case "message_id", "current_message_id":
		real = []string{w.reply, w.reply, w.userMsg}
	case "parent_id": // a reply to send under; a user message is a 422
		real = []string{w.reply, w.reply, w.userMsg}
	case "file_id", "file_ids":
		real = []string{w.file, w.file, w.otherFile}
	case "export_id":
		real = []string{w.export}
	case "key_id":
		real = []string{w.keyID}
	case "share_id":
		real = []string{w.share}
	case "token":
		real = []string{w.shareToken}
	default:
		real = []string{w.conv, w.reply, w.file, w.export, w.keyID}
	}
	switch k := uniform(rt, label+".idkind", 10); {
	case k < 6:
		return oneOf(rt, label, real)
	case k < 8:
		return randomUUID(rt, label+".random").String()
	default:
		return text(rt, label)
	}
}

// randomUUID is a UUIDv7-shaped id that names nothing.
func randomUUID(rt *rapid.T, label string) uuid.UUID {
	var id uuid.UUID
	copy(id[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(rt, label))
	id[6] = id[6]&0x0f | 0x70
	id[8] = id[8]&0x3f | 0x80
	return id
}

// hostileValue is a value of any type, often the wrong one.
func (g *generator) hostileValue(rt *rapid.T, label string) any {
	switch uniform(rt, label+".hostile", 10) {
	case 0:
		return nil
	case 1:
		return oneOf(rt, label, []any{0, -1, 1e300, 1.5, int64(1) << 62})
	case 2:
		return rapid.Bool().Draw(rt, label)
	case 3:
		return []any{text(rt, label)}
	case 4:
		return map[string]any{text(rt, label+".k"): text(rt, label+".v")}
	default:
		return text(rt, label)
	}
}

// rawBodies are bodies no JSON encoder writes.
var rawBodies = []string{"", "{", "[]", "null", "0", `"x"`, "\xff\xfe\x00", `{"content":"\ud800"}`, `{"content":"a\u0000b"}`,
	`{"title":"\udc00\ud800"}`, `{"content":"a","content":"b"}`, `{"content":1e999}`, `{"format":"pdf","format":"json"}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), `{"name":"\u202e","expires_at":"9999-99-99T99:99:99Z"}`,
	`{"email":"a@b.c","password":"` + strings.Repeat("\\u0000", 100) + `"}`, "{\"content\":\"\xc3\x28\"}"}

// rawQueries are query strings no URL encoder writes.
var rawQueries = []string{"limit=%zz", "cursor=%00", "q=%", "limit=1%00", "q=a%2", "%=x", "limit", "limit=", "&&&", "q=%E2%80%AE",
	"limit=99999999999999999999", "cursor=" + strings.Repeat("A", 5000), "q[]=1", "q=1;limit=2"}

var contentTypes = []string{"application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x", "application/json; charset=latin1", "", "application/merge-patch+json", "*/*"}

// headerSafe removes what net/http refuses to send in a header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// request draws one request to o.
func (g *generator) request(rt *rapid.T, o operation) (req *http.Request, token string, body any, desc string) {
	w := &g.w
	path := o.path
	for _, p := range o.params {
		if p.In != "path" {
			continue
		}
		var v string
		if percent(rt, "path."+p.Name+".raw", 10) {
			v = oneOf(rt, "path."+p.Name, hostileIDs)
		} else {
			v = url.PathEscape(g.id(rt, p.Name, "path."+p.Name))
		}
		path = strings.ReplaceAll(path, "{"+p.Name+"}", v)
	}
	q := url.Values{}
	headers := http.Header{}
	for _, p := range o.params {
		label := p.In + "." + p.Name
		if p.In == "path" || !(p.Required || percent(rt, label+".present", 50)) {
			continue
		}
		var v string
		switch p.Name {
		case "cursor":
			if percent(rt, label+".real", 40) {
				v = pagination.Encode(pagination.Position{
					At: time.Unix(rapid.Int64Range(-1e10, 1e10).Draw(rt, label+".at"), 0), ID: randomUUID(rt, label+".id")})
			} else {
				v = text(rt, label)
			}
		case "Last-Event-ID":
			if percent(rt, label+".valid", 60) {
				v = strconv.Itoa(rapid.IntRange(0, 1<<20).Draw(rt, label))
			} else {
				v = text(rt, label)
			}
		case "Range":
			if percent(rt, label+".valid", 60) {
				a, b := rapid.IntRange(-5, 100).Draw(rt, label+".a"), rapid.IntRange(-5, 100).Draw(rt, label+".b")
				v = oneOf(rt, label, []string{fmt.Sprintf("bytes=%d-%d", a, b), fmt.Sprintf("bytes=%d-", a), fmt.Sprintf("bytes=-%d", b),
					fmt.Sprintf("bytes=%d-%d,%d-%d", a, b, b, a), "bytes=0-0,-1", "bytes=", "items=0-1"})
			} else {
				v = text(rt, label)
			}
		case "If-None-Match":
			v = oneOf(rt, label, []string{"*", `"x"`, `W/"x"`, ""}) + text(rt, label)
		default:
			if p.Schema != nil {
				v = fmt.Sprint(g.value(rt, p.Schema.Value, p.Name, 0))
			} else {
				v = text(rt, label)
			}
		}
		if p.In == "query" {
			q.Add(p.Name, v)
			if percent(rt, label+".twice", 5) {
				q.Add(p.Name, text(rt, label+".again"))
			}
		} else if p.In == "header" {
			headers.Set(p.Name, headerSafe(v))
		}
	}
	if percent(rt, "query.unknown", 5) {
		q.Add(text(rt, "query.unknown.name"), text(rt, "query.unknown.value"))
	}
	target := "/api/v1" + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	if percent(rt, "query.raw", 4) {
		sep := "?"
		if len(q) > 0 {
			sep = "&"
		}
		target += sep + oneOf(rt, "query.raw", rawQueries)
	}

	var rd io.Reader
	ct := ""
	if o.op.RequestBody != nil || percent(rt, "body.unexpected", 5) {
		var mt *openapi3.MediaType
		if o.op.RequestBody != nil {
			mt = o.op.RequestBody.Value.Content.Get("application/json")
		}
		switch {
		case o.op.RequestBody != nil && o.op.RequestBody.Value.Content.Get("multipart/form-data") != nil && percent(rt, "body.multipart", 85):
			b, c := g.multipart(rt)
			rd, ct, body = bytes.NewReader(b), c, string(b)
		case percent(rt, "body.raw", 8) || mt == nil:
			raw := oneOf(rt, "body.raw", rawBodies)
			rd, body, ct = strings.NewReader(raw), raw, "application/json"
		default:
			v := g.value(rt, mt.Schema.Value, "", 0)
			b, err := json.Marshal(v)
			if err != nil {
				rt.Fatalf("marshal %v: %v", v, err)
			}
			if percent(rt, "body.truncate", 3) && len(b) > 1 {
				b = b[:rapid.IntRange(0, len(b)-1).Draw(rt, "body.cut")]
			}
			rd, body, ct = bytes.NewReader(b), v, "application/json"
		}
		if percent(rt, "contentType.wrong", 8) {
			ct = oneOf(rt, "contentType", contentTypes)
		}
	}
	method := o.method
	if percent(rt, "method.other", 4) {
		// A method the path may not have (405, with the envelope), or another operation's.
		method = oneOf(rt, "method", []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"})
	}
	req, err := http.NewRequest(method, g.env.Server.URL+target, rd)
	if err != nil {
		rt.Fatalf("build request %s %s: %v", method, target, err)
	}
	if percent(rt, "origin", 5) {
		req.Header.Set("Origin", oneOf(rt, "origin", []string{"https://evil.example", "null", "http://localhost:3000", "file://"}))
		if method == "OPTIONS" || percent(rt, "preflight", 30) {
			req.Header.Set("Access-Control-Request-Method", oneOf(rt, "preflight.method", []string{"GET", "POST", "DELETE", "PATCH"}))
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, last-event-id")
		}
	}
	if percent(rt, "accept", 5) {
		req.Header.Set("Accept", oneOf(rt, "accept", []string{"text/event-stream", "application/xml", "*/*;q=0", "text/html", "application/pdf"}))
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	switch k := uniform(rt, "auth", 100); {
	case k < 72:
		token = w.token
	case k < 82:
		token = w.apiKey
	case k < 89:
		token = w.otherToken
	case k < 94:
		token = ""
	case k < 97:
		token = headerSafe(text(rt, "auth.garbage"))
	default:
		// The user's own token, tampered with: a flipped signature, the header claiming
		// "none", or the payload of someone else with the user's signature.
		parts := strings.Split(w.token, ".")
		if len(parts) == 3 {
			switch uniform(rt, "auth.tamper", 3) {
			case 0:
				sig := []byte(parts[2])
				sig[0] ^= 1
				parts[2] = string(sig)
			case 1:
				parts[0], parts[2] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", ""
			case 2:
				if o := strings.Split(w.otherToken, "."); len(o) == 3 {
					parts[1] = o[1]
				}
			}
		}
		token = strings.Join(parts, ".")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	} else if percent(rt, "auth.scheme", 30) {
		req.Header.Set("Authorization", oneOf(rt, "auth.scheme", []string{"Basic YTpi", "Bearer", "Bearer  ", "bearer x.y.z", "Token abc"}))
	}
	shown := fmt.Sprint(body)
	if b, ok := body.(string); ok {
		shown = strconv.Quote(b)
	} else if b, err := json.Marshal(body); err == nil {
		shown = string(b)
	}
	if len(shown) > 3000 {
		shown = shown[:3000] + "…(cut)"
	}
	desc = fmt.Sprintf("%s %s\nheaders: %v\nbody: %s", o.method, target, req.Header, shown)
	return req, token, body, desc
}

// multipart draws an upload body: usually well formed with odd names and contents.
func (g *generator) multipart(rt *rapid.T) ([]byte, string) {
	boundary := "propertyboundary" + strconv.Itoa(rapid.IntRange(0, 999).Draw(rt, "mp.boundary"))
	name := text(rt, "mp.filename")
	var disposition string
	switch uniform(rt, "mp.disposition", 10) {
	case 0:
		disposition = fmt.Sprintf(`form-data; name="file"; filename="%s"`, headerSafe(name))
	case 1:
		disposition = fmt.Sprintf(`form-data; name="file"; filename*=UTF-8''%s`, url.PathEscape(name))
	case 2:
		disposition = fmt.Sprintf(`form-data; name=%q; filename=%q`, text(rt, "mp.part"), name)
	case 3:
		disposition = `form-data; name="file"`
	default:
		disposition = fmt.Sprintf(`form-data; name="file"; filename=%q`, name)
	}
	var content []byte
	switch uniform(rt, "mp.content", 7) {
	case 0:
		content = nil
	case 1:
		content = rapid.SliceOfN(rapid.Byte(), 0, 2048).Draw(rt, "mp.bytes")
	case 2:
		content = []byte("%PDF-1.4\n" + text(rt, "mp.pdf"))
	case 3:
		content = append([]byte("\x89PNG\r\n\x1a\n"), rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(rt, "mp.png")...)
	case 4:
		content = []byte(`{"k":"` + text(rt, "mp.json") + `"}`)
	default:
		content = []byte(text(rt, "mp.text"))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: %s\r\nContent-Type: %s\r\n\r\n", boundary, strings.ReplaceAll(disposition, "\r\n", " "),
		oneOf(rt, "mp.type", []string{"application/octet-stream", "text/plain", "image/png", "application/pdf"}))
	b.Write(content)
	if !percent(rt, "mp.unterminated", 5) {
		fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	}
	if percent(rt, "mp.twice", 5) {
		return append(b.Bytes(), b.Bytes()...), "multipart/form-data; boundary=" + boundary
	}
	return b.Bytes(), "multipart/form-data; boundary=" + boundary
}

// logOf is the server's log lines of one request.
func (g *generator) logOf(requestID string) string {
	var out []string
	for _, l := range strings.Split(g.env.Logs.String(), "\n") {
		if requestID != "" && strings.Contains(l, requestID) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// check draws, sends and judges one request.
func (g *generator) check(rt *rapid.T) {
	o := oneOf(rt, "operation", g.ops)
	req, token, body, desc := g.request(rt, o)
	rt.Logf("request: %s", desc)
	_ = os.WriteFile(g.inflight, []byte(desc+"\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	req = req.WithContext(ctx)
	g.requests.Add(1)
	resp, err := g.env.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			rt.Fatalf("no response within %s (a hang): %s", g.timeout, desc)
		}
		rt.Fatalf("transport error %v: %s", err, desc)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		rt.Fatalf("reading the body: %v (a hang if the deadline passed): %s", err, desc)
	}
	g.mu.Lock()
	if g.statuses == nil {
		g.statuses = map[int]int{}
	}
	g.statuses[resp.StatusCode]++
	if g.perOp == nil {
		g.perOp = map[string]map[int]int{}
	}
	if g.perOp[o.op.OperationID] == nil {
		g.perOp[o.op.OperationID] = map[int]int{}
	}
	g.perOp[o.op.OperationID][resp.StatusCode]++
	g.mu.Unlock()
	r := &apitest.Response{Response: resp, Body: b}
	// The spec: a documented status, a body and headers that match it. (First: rapid reports
	// the last failure message of a case, and the ones below carry the request.)
	g.env.Check(req, r)
	if resp.StatusCode >= 500 {
		rt.Errorf("%d %s\nfor %s\nserver log of the request:\n%s", resp.StatusCode, b, desc, g.logOf(resp.Header.Get("X-Request-ID")))
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error *struct {
				Code      string `json:"code"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Code == "" || e.Error.RequestID != resp.Header.Get("X-Request-ID") {
			rt.Errorf("error %d is not the envelope: %q\nfor %s", resp.StatusCode, b, desc)
		}
	}
	if resp.StatusCode < 300 {
		// The operation that ran (the method may have been swapped for another).
		for _, sent := range g.ops {
			if sent.path == o.path && sent.method == req.Method {
				g.w.forget(sent, token, req.URL.Path, body, b)
			}
		}
	}
}
