//go:build dockere2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The image: FROM scratch, no shell, the version stamped, a CA bundle that parses, and a
// second build of an unchanged tree served from the cache.
func TestDockerImage(t *testing.T) {
	f := getFixtures(t)
	image := "assistant:" + f.version

	size, _ := strconv.ParseInt(mustDocker(t, "image", "inspect", "-f", "{{.Size}}", image), 10, 64)
	t.Logf("image %s: %.1f MiB", image, float64(size)/(1<<20))
	if size == 0 || size > 64<<20 {
		t.Errorf("image size %d bytes", size)
	}
	if user := mustDocker(t, "image", "inspect", "-f", "{{.Config.User}}", image); user != "65532:65532" {
		t.Errorf("image user %q", user)
	}
	if out, err := docker("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", "true"); err == nil {
		t.Errorf("the image has a shell: %s", out)
	}
	if out := mustDocker(t, "run", "--rm", "--network", "none", image, "version"); !strings.Contains(out, f.version) {
		t.Errorf("assistant version in the image: %q, want %q in it", out, f.version)
	}

	// The CA bundle: copied out of a created (never started) container and parsed.
	id := mustDocker(t, "create", image)
	defer docker("rm", id)
	bundle := filepath.Join(t.TempDir(), "ca.crt")
	mustDocker(t, "cp", id+":/etc/ssl/certs/ca-certificates.crt", bundle)
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			n++
		}
	}
	if n < 100 {
		t.Errorf("the image's CA bundle holds %d certificates", n)
	}

	start := time.Now()
	out, err := buildImage(repoRoot(t), f.env.golang, image, f.version)
	if err != nil {
		t.Fatalf("second build: %v\n%s", err, out)
	}
	logPhase(t, "image rebuild (unchanged tree)", start)
	if !strings.Contains(out, "make build VERSION=") || strings.Count(out, "CACHED") < 3 {
		t.Errorf("the second build of an unchanged tree did not use the cache:\n%s", out)
	}
	if after := mustDocker(t, "image", "inspect", "-f", "{{.Size}}", image); after != strconv.FormatInt(size, 10) {
		t.Errorf("size changed on a cached build: %s then %s", strconv.FormatInt(size, 10), after)
	}
}

// The whole deployment: up from .env.production.example, the journey through nginx, the
// containers' hardening, three replicas, restarts, faults, backup and restore, TLS, upgrade.
func TestDockerDeployment(t *testing.T) {
	f := getFixtures(t)
	s := newStack(t, f, "e2e-main", map[string]string{"FAKE_CHUNKS": strconv.Itoa(replyChunks), "FAKE_DELAY": "100ms",
		"COMPOSE_PROFILES": "monitoring"})

	start := time.Now()
	s.mustCompose("up", "-d", "--wait")
	logPhase(t, "compose up", start)

	var (
		alice     session
		convID    string
		fileID    string
		exportID  string
		replyText string
	)

	t.Run("migrate finishes before any api starts; every service healthy; only nginx published", func(t *testing.T) {
		migrate := s.containers("migrate")
		if len(migrate) != 1 {
			t.Fatalf("migrate containers %v", migrate)
		}
		if code := inspect(t, migrate[0], "{{.State.ExitCode}}"); code != "0" {
			t.Errorf("migrate exit code %s", code)
		}
		finished, _ := time.Parse(time.RFC3339Nano, inspect(t, migrate[0], "{{.State.FinishedAt}}"))
		for _, api := range s.containers("api") {
			started, _ := time.Parse(time.RFC3339Nano, inspect(t, api, "{{.State.StartedAt}}"))
			if !started.After(finished) {
				t.Errorf("api started %s, before migrate finished %s", started, finished)
			}
		}
		for _, svc := range []string{"postgres", "redis", "api", "nginx"} {
			for _, id := range s.containers(svc) {
				if h := inspect(t, id, "{{.State.Health.Status}}"); h != "healthy" {
					t.Errorf("%s: health %s", svc, h)
				}
			}
		}
		for _, svc := range []string{"postgres", "redis", "api", "migrate"} {
			for _, id := range s.containers(svc) {
				if p := inspect(t, id, "{{json .HostConfig.PortBindings}}"); p != "{}" && p != "null" {
					t.Errorf("%s publishes %s", svc, p)
				}
			}
		}
	})

	t.Run("through nginx: headers once, envelopes, docs off", func(t *testing.T) {
		ok := do(t, "GET", s.http+"/api/v1/health", nil)
		if ok.status != 200 {
			t.Fatalf("health %d %s", ok.status, ok.body)
		}
		headersOnce(t, "200", ok.header, true)
		if ok.header.Get("Strict-Transport-Security") != "" {
			t.Error("HSTS over plain HTTP")
		}
		missing := do(t, "GET", s.http+"/api/v1/nope", nil)
		if missing.status != 404 || envelope(t, "404", missing) != "not_found" {
			t.Errorf("404: %d %s", missing.status, missing.body)
		}
		headersOnce(t, "404", missing.header, true)
		docs := do(t, "GET", s.http+"/api/v1/docs", nil)
		if docs.status != 404 || envelope(t, "docs", docs) != "not_found" {
			t.Errorf("docs in production: %d %s", docs.status, docs.body)
		}
		big := do(t, "POST", s.http+"/api/v1/files", bytes.NewReader(make([]byte, 27<<20)), "Content-Type", "multipart/form-data; boundary=b")
		if big.status != 413 || envelope(t, "413", big) != "payload_too_large" {
			t.Errorf("27 MiB upload: %d %s", big.status, big.body)
		}
		headersOnce(t, "413", big.header, true)
	})

	t.Run("a full journey", func(t *testing.T) {
		alice = s.register(t, "alice@example.com")
		conv := decode[struct {
			ID string `json:"id"`
		}](t, s.call(t, alice.AccessToken, "POST", "/conversations", map[string]any{"title": "Lisbon 🇵🇹 في يومين"}), 201)
		convID = conv.ID

		fileID = s.upload(t, alice.AccessToken, "notes.txt", []byte("Tram 28 at dawn; pastéis de nata 🥐"))
		got := do(t, "GET", s.http+"/api/v1/files/"+fileID+"/content", nil, "Authorization", "Bearer "+alice.AccessToken)
		if got.status != 200 || string(got.body) != "Tram 28 at dawn; pastéis de nata 🥐" {
			t.Fatalf("download: %d %q", got.status, got.body)
		}

		resp, evs := s.openStream(t, alice.AccessToken, "POST", "/conversations/"+convID+"/messages/stream",
			map[string]any{"content": "Two days in Lisbon?", "file_ids": []string{fileID}}, "")
		defer resp.Body.Close()
		var deltas int
		var text strings.Builder
		var arrivals []time.Time
		for ev := range evs {
			switch ev.name {
			case "delta":
				var d struct {
					Content string `json:"content"`
				}
				_ = json.Unmarshal([]byte(ev.data), &d)
				text.WriteString(d.Content)
				deltas++
				arrivals = append(arrivals, time.Now())
			case "error":
				t.Fatalf("error event: %s", ev.data)
			}
			if ev.name == "done" {
				break
			}
		}
		replyText = text.String()
		if want := words(replyChunks); replyText != want {
			t.Fatalf("streamed text %q, want %q", replyText, want)
		}
		// Event by event: deltas 100 ms apart at the provider arrive spread over seconds,
		// not in one burst at the end (nginx buffers nothing on the stream path).
		if deltas < 20 || arrivals[len(arrivals)-1].Sub(arrivals[0]) < time.Second {
			t.Errorf("%d deltas over %s", deltas, arrivals[len(arrivals)-1].Sub(arrivals[0]))
		}

		exp := decode[struct {
			ID string `json:"id"`
		}](t, s.call(t, alice.AccessToken, "POST", "/conversations/"+convID+"/exports", map[string]string{"format": "pdf"}), 201)
		exportID = exp.ID
		pdf := do(t, "GET", s.http+"/api/v1/exports/"+exportID+"/content", nil, "Authorization", "Bearer "+alice.AccessToken)
		if pdf.status != 200 || !bytes.HasPrefix(pdf.body, []byte("%PDF-")) {
			t.Fatalf("export download: %d %.40q", pdf.status, pdf.body)
		}
	})

	t.Run("the api runs as 65532, read-only, no capabilities, and writes only its volumes", func(t *testing.T) {
		api := s.containers("api")[0]
		for format, want := range map[string]string{
			"{{.Config.User}}":                 "65532:65532",
			"{{.HostConfig.ReadonlyRootfs}}":   "true",
			"{{json .HostConfig.CapDrop}}":     `["ALL"]`,
			"{{json .HostConfig.SecurityOpt}}": `["no-new-privileges:true"]`,
		} {
			if got := inspect(t, api, format); got != want {
				t.Errorf("%s = %s, want %s", format, got, want)
			}
		}
		// Mount points the engine made for the container (the test's CA) are not writes.
		mounts := strings.Fields(inspect(t, api, "{{range .Mounts}}{{.Destination}} {{end}}"))
		for _, line := range strings.Split(mustDocker(t, "diff", api), "\n") {
			path := strings.TrimSpace(line[min(len(line), 2):])
			if path == "" || slices.ContainsFunc(mounts, func(m string) bool { return m == path || strings.HasPrefix(m, path+"/") }) {
				continue
			}
			t.Errorf("the api changed its filesystem outside its volumes: %s", line)
		}
		// The named volumes, created empty on the first start, belong to the api's user and
		// hold what it wrote.
		for _, vol := range []string{"uploads", "exports"} {
			out := mustDocker(t, "run", "--rm", "--network", "none", "-v", s.project+"_"+vol+":/v:ro", f.env.base,
				"sh", "-c", "stat -c '%u:%g' /v; find /v -type f | wc -l")
			lines := strings.Fields(out)
			if len(lines) != 2 || lines[0] != "65532:65532" || lines[1] == "0" {
				t.Errorf("volume %s: owner and files %q", vol, out)
			}
		}
	})

	t.Run("three replicas behind nginx without a reload", func(t *testing.T) {
		start := time.Now()
		s.mustCompose("up", "-d", "--scale", "api=3", "--wait")
		logPhase(t, "scale to 3", start)
		apis := s.containers("api")
		if len(apis) != 3 {
			t.Fatalf("api containers %v", apis)
		}
		nginxStarted := inspect(t, s.containers("nginx")[0], "{{.State.StartedAt}}")
		// Each replica's access log names the request ids it served. nginx re-resolves the
		// name every second, so requests go on until every replica has served some.
		ids := map[string]bool{}
		var served map[string]int
		for i := 1; i <= 60; i++ {
			r := do(t, "GET", s.http+"/api/v1/conversations", nil, "Authorization", "Bearer "+alice.AccessToken)
			if r.status != 200 {
				t.Fatalf("list: %d %s", r.status, r.body)
			}
			ids[r.header.Get("X-Request-ID")] = true
			time.Sleep(500 * time.Millisecond)
			if i%10 == 0 {
				if served = servedBy(t, apis, ids); len(served) == 3 {
					break
				}
			}
		}
		if len(served) != 3 {
			t.Errorf("not every replica served requests: %v", served)
		}
		t.Logf("requests per replica: %v", served)
		if after := inspect(t, s.containers("nginx")[0], "{{.State.StartedAt}}"); after != nginxStarted {
			t.Error("nginx was restarted")
		}
	})

	t.Run("Prometheus scrapes the three replicas", func(t *testing.T) {
		query := func(q string) string {
			r := do(t, "GET", "http://"+s.vars["PROMETHEUS_PORT"]+"/api/v1/query?query="+url.QueryEscape(q), nil)
			var res struct {
				Data struct {
					Result []struct {
						Value []any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			if r.status != 200 || json.Unmarshal(r.body, &res) != nil || len(res.Data.Result) != 1 || len(res.Data.Result[0].Value) != 2 {
				return ""
			}
			v, _ := res.Data.Result[0].Value[1].(string)
			return v
		}
		// Discovery and scrapes every 15 s: a minute and a half at most.
		waitFor(t, "three replicas up in Prometheus", 90*time.Second, func() bool { return query(`count(up{job="assistant"} == 1)`) == "3" })
		waitFor(t, "the request counter in Prometheus", 60*time.Second, func() bool {
			n, err := strconv.ParseFloat(query(`sum(assistant_http_request_duration_seconds_count{operation="listConversations"})`), 64)
			return err == nil && n > 0
		})
	})

	t.Run("the Redis limit holds exactly across replicas", func(t *testing.T) {
		// The limiter's sliding windows are aligned to the minute (RATE_LIMIT_AUTH_WINDOW):
		// the requests stay inside one, so the count is exact rather than weighted.
		if left := time.Minute - time.Duration(time.Now().UnixNano())%time.Minute; left < 30*time.Second {
			time.Sleep(left + 500*time.Millisecond)
		}
		s.mustCompose("exec", "-T", "redis", "redis-cli", "FLUSHALL")
		limit, _ := strconv.Atoi(s.vars["RATE_LIMIT_AUTH_REQUESTS"])
		passed, refused := 0, 0
		ids := map[string]bool{}
		for i := range limit + 15 {
			r := do(t, "POST", s.http+"/api/v1/auth/login", jsonBody(map[string]string{"email": fmt.Sprintf("nobody%d@example.com", i), "password": "wrong password here"}),
				"Content-Type", "application/json")
			ids[r.header.Get("X-Request-ID")] = true
			time.Sleep(100 * time.Millisecond) // over several seconds: over several replicas
			switch r.status {
			case 401:
				passed++
			case 429:
				refused++
			default:
				t.Fatalf("login: %d %s", r.status, r.body)
			}
		}
		if passed != limit || refused != 15 {
			t.Errorf("%d passed and %d refused, want exactly %d and 15", passed, refused, limit)
		}
		served := servedBy(t, s.containers("api"), ids)
		if len(served) < 2 {
			t.Errorf("the limit was met on one replica only: %v", served)
		}
		s.mustCompose("exec", "-T", "redis", "redis-cli", "FLUSHALL")
	})

	t.Run("a reply followed through a killed replica is complete", func(t *testing.T) {
		resp, evs := s.openStream(t, alice.AccessToken, "POST", "/conversations/"+convID+"/messages/stream",
			map[string]any{"content": "And a third day?"}, "")
		defer resp.Body.Close()
		first := <-evs
		var me struct {
			AssistantMessageID string `json:"assistant_message_id"`
		}
		if first.name != "message" || json.Unmarshal([]byte(first.data), &me) != nil {
			t.Fatalf("first event %+v", first)
		}
		// Which replica runs the reply: the provider sees its address.
		runner := s.replicaRunningReply(t, f)
		// Followers on fresh connections spread over the replicas; the two that do not run the
		// reply are killed, and every follower re-attaches through nginx with Last-Event-ID.
		type follower struct {
			text  strings.Builder
			final string
			cut   bool
			done  bool
		}
		followers := make([]*follower, 6)
		var wg, attached sync.WaitGroup
		var killed atomic.Bool
		for i := range followers {
			// nginx re-resolves the replicas every second and Docker's resolver shuffles its
			// answers: followers a second apart land on replicas independently.
			time.Sleep(1100 * time.Millisecond)
			fl := &follower{}
			followers[i] = fl
			wg.Add(1)
			attached.Add(1)
			go func() {
				defer wg.Done()
				var once sync.Once
				defer once.Do(attached.Done)
				last := ""
				for attempt := 0; attempt < 10 && !fl.done; attempt++ {
					r, ch := s.openStreamQuiet("GET", "/conversations/"+convID+"/messages/"+me.AssistantMessageID+"/events", alice.AccessToken, last)
					if r == nil {
						time.Sleep(time.Second)
						continue
					}
					for ev := range ch {
						last = ev.id
						once.Do(attached.Done)
						switch ev.name {
						case "delta":
							var d struct {
								Content string `json:"content"`
							}
							_ = json.Unmarshal([]byte(ev.data), &d)
							fl.text.WriteString(d.Content)
						case "done":
							// The stored reply: a follower that re-attached after the reply
							// ended elsewhere gets the rest of the text only here.
							var m struct {
								Content string `json:"content"`
							}
							_ = json.Unmarshal([]byte(ev.data), &m)
							fl.final = m.Content
							fl.done = true
						}
					}
					r.Body.Close()
					if !fl.done && killed.Load() {
						fl.cut = true
					}
				}
			}()
		}
		attached.Wait() // every follower has its first event: the reply has seconds to go
		killed.Store(true)
		for _, api := range s.containers("api") {
			if api != runner {
				mustDocker(t, "kill", api)
			}
		}
		wg.Wait()
		cut := 0
		for i, fl := range followers {
			// The deltas a follower saw are the start of the reply, and the final event
			// completes it: what a client shows is the whole text.
			if !fl.done || fl.final != words(replyChunks) || !strings.HasPrefix(words(replyChunks), fl.text.String()) {
				t.Errorf("follower %d: done %v, deltas %q, final %q", i, fl.done, fl.text.String(), fl.final)
			}
			if fl.cut {
				cut++
			}
		}
		if cut == 0 {
			t.Error("no follower was on a killed replica: the re-attach was not exercised")
		}
		t.Logf("%d of %d followers were cut off and re-attached", cut, len(followers))
	})

	t.Run("an api process that dies is restarted and becomes healthy", func(t *testing.T) {
		// `docker kill` disables the restart policy until the next start (the engine's
		// documented rule), so the replicas killed above are started again by compose; a
		// process that dies on its own, as in a crash, is what the policy restarts.
		s.mustCompose("up", "-d", "--scale", "api=3", "--wait")
		api := s.containers("api")[0]
		pid, _ := strconv.Atoi(inspect(t, api, "{{.State.Pid}}"))
		if pid <= 1 {
			t.Fatalf("api pid %d", pid)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the crashed replica restarted and healthy", 90*time.Second, func() bool {
			return inspect(t, api, "{{.RestartCount}}") == "1" && inspect(t, api, "{{.State.Health.Status}}") == "healthy"
		})
	})

	t.Run("postgres stopped: 503 envelopes, no restart loop; started: healthy again", func(t *testing.T) {
		apis := s.containers("api")
		startedAt := map[string]string{}
		for _, api := range apis {
			startedAt[api] = inspect(t, api, "{{.State.StartedAt}}")
		}
		s.mustCompose("stop", "postgres")
		waitFor(t, "health 503", 30*time.Second, func() bool { return status(t, s.http+"/api/v1/health") == 503 })
		r := do(t, "GET", s.http+"/api/v1/conversations", nil, "Authorization", "Bearer "+alice.AccessToken)
		if r.status != 503 || envelope(t, "503 without postgres", r) != "service_unavailable" {
			t.Errorf("without postgres: %d %s", r.status, r.body)
		}
		headersOnce(t, "503", r.header, true)
		time.Sleep(20 * time.Second) // several health intervals: unhealthy, but never restarted
		for _, api := range apis {
			if got := inspect(t, api, "{{.State.StartedAt}}"); got != startedAt[api] {
				t.Errorf("api %.12s restarted while postgres was down", api)
			}
		}
		s.mustCompose("start", "postgres")
		waitFor(t, "health 200", 90*time.Second, func() bool { return status(t, s.http+"/api/v1/health") == 200 })
		waitFor(t, "api healthy again", 60*time.Second, func() bool {
			for _, api := range apis {
				if inspect(t, api, "{{.State.Health.Status}}") != "healthy" {
					return false
				}
			}
			return true
		})
		for _, api := range apis {
			if got := inspect(t, api, "{{.State.StartedAt}}"); got != startedAt[api] {
				t.Errorf("api %.12s restarted to recover", api)
			}
		}
	})

	t.Run("no api at all: nginx answers the 503 envelope", func(t *testing.T) {
		s.mustCompose("stop", "api")
		r := do(t, "GET", s.http+"/api/v1/conversations", nil, "Authorization", "Bearer "+alice.AccessToken)
		if r.status != 503 || envelope(t, "nginx 503", r) != "service_unavailable" || r.header.Get("Retry-After") == "" {
			t.Errorf("no api: %d %v %s", r.status, r.header, r.body)
		}
		headersOnce(t, "nginx 503", r.header, true)
		s.mustCompose("up", "-d", "--scale", "api=3", "--wait")
	})

	stored := func(t *testing.T, what string) {
		t.Helper()
		conv := s.call(t, alice.AccessToken, "GET", "/conversations/"+convID+"/messages", nil)
		if conv.status != 200 || !strings.Contains(string(conv.body), replyText) {
			t.Errorf("%s: messages %d %.200s", what, conv.status, conv.body)
		}
		file := do(t, "GET", s.http+"/api/v1/files/"+fileID+"/content", nil, "Authorization", "Bearer "+alice.AccessToken)
		if file.status != 200 || !strings.HasPrefix(string(file.body), "Tram 28") {
			t.Errorf("%s: file %d", what, file.status)
		}
		pdf := do(t, "GET", s.http+"/api/v1/exports/"+exportID+"/content", nil, "Authorization", "Bearer "+alice.AccessToken)
		if pdf.status != 200 || !bytes.HasPrefix(pdf.body, []byte("%PDF-")) {
			t.Errorf("%s: export %d", what, pdf.status)
		}
	}

	t.Run("restart, and down then up, keep everything", func(t *testing.T) {
		start := time.Now()
		s.mustCompose("restart")
		waitFor(t, "healthy after restart", 90*time.Second, func() bool { return status(t, s.http+"/api/v1/health") == 200 })
		stored(t, "after restart")
		s.mustCompose("down")
		s.mustCompose("up", "-d", "--wait")
		stored(t, "after down and up")
		logPhase(t, "restart, down and up", start)
	})

	t.Run("backup while serving, restore into an empty stack: every row and file", func(t *testing.T) {
		start := time.Now()
		archive := filepath.Join(t.TempDir(), "backup.tar")
		root := repoRoot(t)
		// Requests keep going while the backup runs.
		traffic := s.keepCalling("/api/v1/conversations", alice.AccessToken, 0)
		cmd := exec.Command(filepath.Join(root, "scripts", "backup.sh"), archive)
		cmd.Env = append(os.Environ(), s.composeEnv()...)
		out, err := cmd.CombinedOutput()
		served, failed := traffic.stop()
		if err != nil {
			t.Fatalf("backup: %v\n%s", err, out)
		}
		if failed != 0 {
			t.Errorf("%d requests failed during the backup (%d served)", failed, served)
		}
		logPhase(t, "backup", start)

		start = time.Now()
		restored := newStack(t, f, "e2e-restored", map[string]string{
			"POSTGRES_PASSWORD": s.vars["POSTGRES_PASSWORD"], "JWT_SECRET": s.vars["JWT_SECRET"]})
		cmd = exec.Command(filepath.Join(root, "scripts", "restore.sh"), archive)
		cmd.Env = append(os.Environ(), restored.composeEnv()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		restored.mustCompose("up", "-d", "--wait")
		logPhase(t, "restore", start)

		if a, b := s.dumpRows(t), restored.dumpRows(t); a != b {
			t.Errorf("rows differ after restore:\n%s", firstDiff(a, b))
		}
		for _, vol := range []string{"uploads", "exports"} {
			a, b := s.fileSums(t, vol), restored.fileSums(t, vol)
			if a != b || a == "" {
				t.Errorf("%s differ after restore:\n%s", vol, firstDiff(a, b))
			}
		}
		// The restored stack serves what was backed up, to the same session.
		restored.serves(t, alice, convID, fileID, exportID, replyText)
	})

	t.Run("HTTPS: TLS listener with HSTS, HTTP redirected", func(t *testing.T) {
		httpsPort := f.freePort(t)
		tlsStack := *s
		tlsStack.files = append(slices.Clone(s.files), filepath.Join(repoRoot(t), "docker-compose.tls.yml"))
		env := filepath.Join(s.dir, "env")
		b, _ := os.ReadFile(env)
		b = append(b, []byte(fmt.Sprintf("HTTPS_PORT=127.0.0.1:%d\nTLS_CERT_DIR=%s\n", httpsPort, filepath.Join(f.dir, "tls")))...)
		if err := os.WriteFile(env, b, 0o600); err != nil {
			t.Fatal(err)
		}
		tlsStack.mustCompose("up", "-d", "--wait", "nginx")
		client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the self-signed certificate
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/api/v1/health", httpsPort))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || len(resp.Header.Values("Strict-Transport-Security")) != 1 {
			t.Errorf("https: %d, HSTS %v", resp.StatusCode, resp.Header.Values("Strict-Transport-Security"))
		}
		headersOnce(t, "https", resp.Header, true)
		resp, err = client.Get(s.http + "/api/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(resp.Header.Get("Location"), "https://") ||
			resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("plain HTTP: %d Location %q HSTS %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Strict-Transport-Security"))
		}
		// Back to plain HTTP for what follows.
		s.mustCompose("up", "-d", "--wait", "nginx")
	})

	t.Run("nginx refuses a flood of sign-ins itself", func(t *testing.T) {
		var nginxRefused int
		for range 150 {
			r := do(t, "POST", s.http+"/api/v1/auth/login", jsonBody(map[string]string{"email": "flood@example.com", "password": "wrong password here"}),
				"Content-Type", "application/json")
			if r.status == 429 && strings.Contains(string(r.body), "slow down") {
				nginxRefused++
				envelope(t, "nginx 429", r)
			}
		}
		if nginxRefused == 0 {
			t.Error("150 sign-ins in a burst: nginx refused none")
		}
	})

	t.Run("nginx holds a client to four uploads at once", func(t *testing.T) {
		addr := strings.TrimPrefix(s.http, "http://")
		head := "POST /api/v1/files HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + alice.AccessToken +
			"\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n" +
			"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\nContent-Type: text/plain\r\n\r\nslow"
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for range 4 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)        // the four reach the api and stay open, sending slowly
		fifth := rawRequest(t, addr, head) // refused on its headers, before its body
		if fifth.status != 429 || envelope(t, "limit_conn", fifth) != "rate_limited" {
			t.Errorf("a fifth upload at once: %d %s", fifth.status, fifth.body)
		}
	})

	t.Run("upgrade: a new migration applied while the old api serves", func(t *testing.T) {
		start := time.Now()
		next := upgradeTree(t)
		if out, err := buildImage(next, f.env.golang, "assistant:e2e-next", "e2e-next"); err != nil {
			t.Fatalf("build the next version: %v\n%s", err, out)
		}
		traffic := s.keepCalling("/api/v1/health", "", 50*time.Millisecond)
		env := filepath.Join(s.dir, "env")
		b, _ := os.ReadFile(env)
		if err := os.WriteFile(env, []byte(strings.Replace(string(b), "\nVERSION=e2e\n", "\nVERSION=e2e-next\n", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		s.mustCompose("run", "--rm", "migrate")
		if v := s.psql("SELECT count(*) FROM schema_migrations WHERE version = '29991231000000'"); v != "1" {
			t.Errorf("the new migration is not applied: %q", v)
		}
		served, failed := traffic.stop()
		if failed != 0 {
			t.Errorf("the old api failed %d of %d health checks while the migration ran", failed, served+failed)
		}
		t.Logf("while the migration ran: %d health checks served, %d failed", served, failed)
		traffic = s.keepCalling("/api/v1/health", "", 50*time.Millisecond)
		s.mustCompose("up", "-d", "--wait", "--scale", "api=3")
		served, failed = traffic.stop()
		stored(t, "after the upgrade")
		if out := mustDocker(t, "inspect", "-f", "{{.Config.Image}}", s.containers("api")[0]); out != "assistant:e2e-next" {
			t.Errorf("api runs %s after the upgrade", out)
		}
		// Compose replaces the replicas together: the seconds between is the only downtime.
		t.Logf("while the replicas were replaced: %d health checks served, %d failed", served, failed)
		logPhase(t, "upgrade", start)
	})

	t.Run("down -v removes the data", func(t *testing.T) {
		s.mustCompose("down", "-v")
		if out := mustDocker(t, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+s.project); out != "" {
			t.Errorf("volumes left: %s", out)
		}
	})
}

// replyChunks is the length of the provider's replies in the deployment test: at 100 ms a
// chunk, long enough to kill replicas in the middle of one.
const replyChunks = 150

// words is the provider's reply of n chunks.
func words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d", i)
	}
	return strings.Join(w, " ")
}

// servedBy counts, per api container, the requests among ids its access log names.
func servedBy(t *testing.T, apis []string, ids map[string]bool) map[string]int {
	t.Helper()
	served := map[string]int{}
	for _, api := range apis {
		out, _ := docker("logs", api)
		for _, line := range strings.Split(out, "\n") {
			var l struct {
				RequestID string `json:"request_id"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && ids[l.RequestID] {
				served[api]++
			}
		}
	}
	return served
}

// replicaRunningReply asks the provider which address streams a reply now and maps it to
// the api container with that address.
func (s *stack) replicaRunningReply(t *testing.T, f *fixtures) string {
	t.Helper()
	port := s.mustCompose("port", "provider", "8443")
	var ips []string
	waitFor(t, "a reply at the provider", 10*time.Second, func() bool {
		resp, err := f.providerClient().Get("https://" + port + "/clients")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		ips = nil
		_ = json.NewDecoder(resp.Body).Decode(&ips)
		return len(ips) == 1
	})
	for _, api := range s.containers("api") {
		if strings.Contains(inspect(t, api, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"), ips[0]) {
			return api
		}
	}
	t.Fatalf("no api container has the address %s", ips[0])
	return ""
}

// openStreamQuiet is openStream for goroutines: nil when the request fails.
func (s *stack) openStreamQuiet(method, path, token, lastEventID string) (*http.Response, <-chan sseEvent) {
	req, _ := http.NewRequest(method, s.http+"/api/v1"+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, nil
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, nil
	}
	ch := make(chan sseEvent, 256)
	go events(resp.Body, ch)
	return resp, ch
}

// composeEnv is what the backup and restore scripts need to address this stack.
func (s *stack) composeEnv() []string {
	files := strings.Join(s.files, ":")
	return []string{"COMPOSE_PROJECT_NAME=" + s.project, "COMPOSE_FILE=" + files, "COMPOSE_ENV_FILES=" + filepath.Join(s.dir, "env"),
		"COMPOSE_PROJECT_DIRECTORY=" + repoRoot(s.t)}
}

// dumpRows is every row of every table, in a stable order.
func (s *stack) dumpRows(t *testing.T) string {
	t.Helper()
	tables := strings.Fields(s.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
	var b strings.Builder
	for _, table := range tables {
		fmt.Fprintf(&b, "== %s\n%s\n", table, s.psql(fmt.Sprintf("SELECT t::text FROM %q t ORDER BY 1", table)))
	}
	return b.String()
}

// fileSums lists every file of a volume with its checksum.
func (s *stack) fileSums(t *testing.T, vol string) string {
	t.Helper()
	return mustDocker(t, "run", "--rm", "--network", "none", "-v", s.project+"_"+vol+":/v:ro", fx.env.base,
		"sh", "-c", "cd /v && find . -type f -print0 | sort -z | xargs -0 -r sha256sum")
}

func (s *stack) serves(t *testing.T, who session, convID, fileID, exportID, text string) {
	t.Helper()
	conv := s.call(t, who.AccessToken, "GET", "/conversations/"+convID+"/messages", nil)
	if conv.status != 200 || !strings.Contains(string(conv.body), text) {
		t.Errorf("restored messages: %d %.200s", conv.status, conv.body)
	}
	for _, p := range []string{"/files/" + fileID + "/content", "/exports/" + exportID + "/content"} {
		if r := do(t, "GET", s.http+"/api/v1"+p, nil, "Authorization", "Bearer "+who.AccessToken); r.status != 200 || len(r.body) == 0 {
			t.Errorf("restored %s: %d", p, r.status)
		}
	}
}

func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %.300s\n+ %.300s", i+1, x, y)
		}
	}
	return "(equal)"
}

// upgradeTree is a copy of the tree with one more migration: the next version's image.
func upgradeTree(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "next")
	out, err := exec.Command("sh", "-c", fmt.Sprintf("mkdir -p %q && cd %q && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t %q", dir, root, dir)).CombinedOutput()
	if err != nil {
		t.Fatalf("copy the tree: %v\n%s", err, out)
	}
	migration := "-- migrate:up\nCREATE INDEX messages_created_at_upgrade_check ON messages (created_at);\n\n-- migrate:down\nDROP INDEX messages_created_at_upgrade_check;\n"
	if err := os.WriteFile(filepath.Join(dir, "db", "migrations", "29991231000000_upgrade_check.sql"), []byte(migration), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var _ = io.Discard

// Three replicas sharing files through the compose file's S3 store (the `s3` profile): a
// file uploaded through one replica is downloaded through another, exports are stored there
// too, and nothing reaches the local volumes.
func TestDockerS3SharedFiles(t *testing.T) {
	f := getFixtures(t)
	s := newStack(t, f, "e2e-s3", map[string]string{
		"COMPOSE_PROFILES": "s3", "S3_SERVER_IMAGE": f.env.seaweedfs,
		"STORAGE_BACKEND": "s3", "S3_ENDPOINT": "http://s3:8333", "S3_FORCE_PATH_STYLE": "true",
		"S3_BUCKET": "assistant", "S3_PREFIX": "e2e/", "S3_ACCESS_KEY_ID": "e2e-access", "S3_SECRET_ACCESS_KEY": secret()})
	start := time.Now()
	s.mustCompose("up", "-d", "--scale", "api=3", "--wait")
	logPhase(t, "compose up with s3, three replicas", start)
	apis := s.containers("api")
	bob := s.register(t, "bob@example.com")

	content := bytes.Repeat([]byte("Ünïcödé 🧪 straße\n"), 20000) // ~460 KB: several reads
	var body bytes.Buffer
	body.WriteString("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"shared.txt\"\r\nContent-Type: text/plain\r\n\r\n")
	body.Write(content)
	body.WriteString("\r\n--b--\r\n")
	up := do(t, "POST", s.http+"/api/v1/files", &body, "Content-Type", "multipart/form-data; boundary=b", "Authorization", "Bearer "+bob.AccessToken)
	file := decode[struct {
		ID string `json:"id"`
	}](t, up, http.StatusCreated)
	var uploader string
	for api := range servedBy(t, apis, map[string]bool{up.header.Get("X-Request-ID"): true}) {
		uploader = api
	}
	if uploader == "" {
		t.Fatal("no replica logged the upload")
	}

	// Downloads, a second apart (nginx re-resolves the replicas every second), until one is
	// served by another replica than the upload.
	other := ""
	for i := 0; i < 40 && other == ""; i++ {
		r := do(t, "GET", s.http+"/api/v1/files/"+file.ID+"/content", nil, "Authorization", "Bearer "+bob.AccessToken)
		if r.status != 200 || !bytes.Equal(r.body, content) {
			t.Fatalf("download %d: %d, %d bytes", i, r.status, len(r.body))
		}
		for api := range servedBy(t, apis, map[string]bool{r.header.Get("X-Request-ID"): true}) {
			if api != uploader {
				other = api
			}
		}
		time.Sleep(600 * time.Millisecond)
	}
	if other == "" {
		t.Fatal("every download was served by the replica that took the upload")
	}
	t.Logf("uploaded through %.12s, downloaded through %.12s", uploader, other)

	conv := decode[struct {
		ID string `json:"id"`
	}](t, s.call(t, bob.AccessToken, "POST", "/conversations", map[string]any{"title": "S3 🪣"}), 201)
	exp := decode[struct {
		ID string `json:"id"`
	}](t, s.call(t, bob.AccessToken, "POST", "/conversations/"+conv.ID+"/exports", map[string]string{"format": "markdown"}), 201)
	for range 3 {
		if r := do(t, "GET", s.http+"/api/v1/exports/"+exp.ID+"/content", nil, "Authorization", "Bearer "+bob.AccessToken); r.status != 200 {
			t.Errorf("export download: %d %s", r.status, r.body)
		}
		time.Sleep(time.Second)
	}
	for _, vol := range []string{"uploads", "exports"} {
		if sums := s.fileSums(t, vol); sums != "" {
			t.Errorf("files in the local %s volume with STORAGE_BACKEND=s3:\n%s", vol, sums)
		}
	}
	health := do(t, "GET", s.http+"/api/v1/health", nil)
	if health.status != 200 || !strings.Contains(string(health.body), "storage") {
		t.Errorf("health with s3: %d %s", health.status, health.body)
	}
}

// traffic is a loop of requests in the background, counting answers.
type traffic struct {
	done           chan struct{}
	finished       chan struct{}
	served, failed atomic.Int32
}

// keepCalling GETs path through nginx until stop, every interval (at once when 0).
func (s *stack) keepCalling(path, token string, interval time.Duration) *traffic {
	tr := &traffic{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(tr.finished)
		c := &http.Client{Timeout: 30 * time.Second}
		for {
			select {
			case <-tr.done:
				return
			case <-time.After(interval):
			}
			req, _ := http.NewRequest("GET", s.http+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := c.Do(req)
			if err != nil || resp.StatusCode != 200 {
				tr.failed.Add(1)
			} else {
				tr.served.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}
	}()
	return tr
}

// stop ends the loop and returns what it counted.
func (tr *traffic) stop() (served, failed int32) {
	close(tr.done)
	<-tr.finished
	return tr.served.Load(), tr.failed.Load()
}
