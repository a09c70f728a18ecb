// Command bench measures the API against a floor server (plain net/http doing the same
// work, bench/floor) on loopback, alternating the two so both see the same machine, and
// prints ratios: these machines are shared and noisy, so only ratios from one run mean
// anything. Run it with `make bench`; it provisions what it needs and stops by itself.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"assistant/server/testutil/fakeopenai"
)

var (
	duration = flag.Duration("duration", 3*time.Second, "length of one measured run")
	rounds   = flag.Int("rounds", 2, "alternating rounds per scenario and side")
	out      = flag.String("out", ".data/bench/results.json", "where to write the figures as JSON")
	pgPort   = flag.Int("pg-port", 54340, "port of the throwaway PostgreSQL")
	only     = flag.String("only", "", "run only the scenarios whose name contains this")
	profile  = flag.String("profile", "", "write a CPU profile of the api, taken during the scenarios run, to this file")
)

// Result is one line of the table.
type Result struct {
	Scenario   string  `json:"scenario"`
	Server     string  `json:"server"`
	Conns      int     `json:"conns,omitempty"`
	ReqPerSec  float64 `json:"req_per_sec,omitempty"`
	P50ms      float64 `json:"p50_ms,omitempty"`
	P99ms      float64 `json:"p99_ms,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	RatioTo    string  `json:"ratio_to,omitempty"`
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
	Errors     int     `json:"errors,omitempty"`
	Note       string  `json:"note,omitempty"`
}

var results []Result

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// proc is a server the bench started.
type proc struct {
	name string
	cmd  *exec.Cmd
	base string
}

func startProc(name, bin string, env []string, logTo string, args ...string) (*proc, error) {
	port := freePort()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(env, "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port))
	f, err := os.Create(logTo)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

func (p *proc) waitReady(path string) time.Duration {
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		if r, err := http.Get(p.base + path); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(time.Millisecond)
	}
	panic(p.name + " never became ready")
}

func (p *proc) statusKB(field string) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return n
		}
	}
	return 0
}

func (p *proc) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

func (p *proc) peakMiB() float64 { return p.statusKB("VmHWM") / 1024 }

// cpu is the process's user+system CPU time.
func (p *proc) cpu() time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// load runs conc clients in a closed loop for d and returns requests per second and the
// latencies. A response with another status than want counts as an error.
func load(conc int, d time.Duration, mk func() *http.Request, want int) (float64, []time.Duration, int) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var lat []time.Duration
			e := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := client.Do(mk())
				if err != nil {
					e++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != want {
					e++
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errs += e
			mu.Unlock()
		})
	}
	wg.Wait()
	return float64(len(all)) / time.Since(start).Seconds(), all, errs
}

func pct(l []time.Duration, p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
}

func request(method, url, token string, body []byte) func() *http.Request {
	return func() *http.Request {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		r, _ := http.NewRequest(method, url, rd)
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set("Authorization", "Bearer "+token)
		return r
	}
}

func fetchProfile(url, to string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(to)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// selected reports whether the scenario runs (see -only).
func selected(scenario string) bool { return *only == "" || strings.Contains(scenario, *only) }

// measure alternates the sides round by round and adds one result per side.
func measure(scenario string, conc int, want int, sides map[string]func() *http.Request, procs map[string]*proc, order []string) map[string]Result {
	type acc struct {
		n      float64
		t      float64
		lat    []time.Duration
		errs   int
		peak   float64
		rounds int
	}
	accs := map[string]*acc{}
	for r := 0; r < *rounds; r++ {
		for _, side := range order {
			a := accs[side]
			if a == nil {
				a = &acc{}
				accs[side] = a
			}
			p := procs[side]
			p.resetPeak()
			rps, lat, errs := load(conc, *duration, sides[side], want)
			a.n += rps * duration.Seconds()
			a.t += duration.Seconds()
			a.lat = append(a.lat, lat...)
			a.errs += errs
			a.peak = max(a.peak, p.peakMiB())
		}
	}
	outRes := map[string]Result{}
	for _, side := range order {
		a := accs[side]
		res := Result{Scenario: scenario, Server: side, Conns: conc, ReqPerSec: a.n / a.t, P50ms: pct(a.lat, .5), P99ms: pct(a.lat, .99),
			Errors: a.errs, PeakRSSMiB: a.peak}
		outRes[side] = res
	}
	return outRes
}

func add(r Result) {
	results = append(results, r)
	ratio := ""
	if r.Ratio != 0 {
		ratio = fmt.Sprintf("%.2f× %s", r.Ratio, r.RatioTo)
	}
	fmt.Printf("%-44s %-6s %3s %10s %8s %8s %-26s %8s %s\n", r.Scenario, r.Server, nz(float64(r.Conns), "%.0f"),
		nz(r.ReqPerSec, "%.0f"), nz(r.P50ms, "%.2f"), nz(r.P99ms, "%.2f"), ratio, nz(r.PeakRSSMiB, "%.1f"), r.Note)
	if r.Errors > 0 {
		fmt.Printf("    (%d unexpected responses)\n", r.Errors)
	}
}

func nz(v float64, f string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(f, v)
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func post(url, token string, body any) map[string]any {
	r, err := http.DefaultClient.Do(request(http.MethodPost, url, token, jsonBody(body))())
	must(err)
	defer r.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(r.Body).Decode(&m)
	if r.StatusCode >= 300 {
		panic(fmt.Sprintf("POST %s: %d %v", url, r.StatusCode, m))
	}
	return m
}

func run() error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	work := filepath.Join(root, ".data", "bench")
	_ = os.RemoveAll(filepath.Join(work, "uploads"))
	must(os.MkdirAll(work, 0o755))
	stopPG := func() { _ = exec.Command("scripts/postgres.sh", "stop", ".data/bench-postgres").Run() }
	if out, err := exec.Command("scripts/postgres.sh", "start", ".data/bench-postgres", strconv.Itoa(*pgPort), "fast").CombinedOutput(); err != nil {
		return fmt.Errorf("postgres: %v\n%s", err, out)
	}
	defer stopPG()
	dbName := "bench_" + strconv.FormatInt(time.Now().Unix(), 36)
	dbURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", *pgPort, dbName)

	fmt.Println("building bin/assistant and bin/floor ...")
	if out, err := exec.Command("make", "build").CombinedOutput(); err != nil {
		return fmt.Errorf("make build: %v\n%s", err, out)
	}
	if out, err := exec.Command("go", "build", "-trimpath", "-o", "bin/floor", "./bench/floor").CombinedOutput(); err != nil {
		return fmt.Errorf("build floor: %v\n%s", err, out)
	}
	bin := filepath.Join(root, "bin", "assistant")
	secret := strings.Repeat("b", 48)
	env := append(os.Environ(), "APP_ENV=production", "DATABASE_URL="+dbURL, "JWT_SECRET="+secret, "LLM_PROVIDER=echo",
		"LLM_ALLOW_ECHO=true", "ECHO_DELAY=0s", "RATE_LIMIT_ENABLED=false", "LOG_LEVEL=info", "REGISTRATION_MODE=open",
		"UPLOAD_DIR="+filepath.Join(work, "uploads"), "EXPORT_DIR="+filepath.Join(work, "exports"),
		"MAX_UPLOAD_BYTES="+strconv.Itoa(1<<30), "USER_STORAGE_QUOTA_BYTES="+strconv.Itoa(3<<30), "PASSWORD_HASH_CONCURRENCY=2")
	debugAddr := fmt.Sprintf("127.0.0.1:%d", freePort())
	mig := exec.Command(bin, "migrate")
	mig.Env = env
	if out, err := mig.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}

	fmt.Printf("\n%-44s %-6s %3s %10s %8s %8s %-26s %8s\n", "scenario", "server", "c", "req/s", "p50 ms", "p99 ms", "ratio", "peak MiB")

	// Start to ready, and idle memory.
	var starts []time.Duration
	var idle float64
	for i := 0; i < 5; i++ {
		p, err := startProc("api", bin, env, filepath.Join(work, "start.log"), "serve")
		if err != nil {
			return err
		}
		starts = append(starts, p.waitReady("/api/v1/health"))
		if i == 0 {
			time.Sleep(time.Second)
			idle = p.statusKB("VmRSS") / 1024
		}
		p.stop()
	}
	slices.Sort(starts)
	add(Result{Scenario: "start to ready (GET /health 200), median of 5", Server: "api", P50ms: float64(starts[2].Microseconds()) / 1000})
	add(Result{Scenario: "idle RSS after start", Server: "api", PeakRSSMiB: idle})

	api, err := startProc("api", bin, append(slices.Clone(env), "DEBUG_ADDR="+debugAddr), filepath.Join(work, "api.log"), "serve")
	if err != nil {
		return err
	}
	defer api.stop()
	api.waitReady("/api/v1/health")
	if *profile != "" {
		done := make(chan error, 1)
		go func() { done <- fetchProfile("http://"+debugAddr+"/debug/pprof/profile?seconds=20", *profile) }()
		defer func() {
			if err := <-done; err != nil {
				fmt.Println("profile:", err)
			} else {
				fmt.Println("CPU profile written to", *profile)
			}
		}()
	}
	floor, err := startProc("floor", filepath.Join(root, "bin", "floor"), env, filepath.Join(work, "floor.log"))
	if err != nil {
		return err
	}
	defer floor.stop()
	time.Sleep(300 * time.Millisecond)
	procs := map[string]*proc{"api": api, "floor": floor}

	session := post(api.base+"/api/v1/auth/register", "", map[string]any{"email": "bench@example.com", "password": "correct horse battery"})
	token := session["access_token"].(string)
	for i := 0; i < 30; i++ {
		post(api.base+"/api/v1/conversations", token, map[string]any{"title": fmt.Sprint("seed ", i)})
	}

	valid := jsonBody(map[string]any{"title": "Trip to Lisbon", "system_prompt": "Be brief.", "model": "echo"})
	invalid := []byte(`{"title":"","owner":"eve","model":5}`)
	pair := func(scenario string, conc, want int, floorReq, apiReq func() *http.Request) (Result, Result) {
		r := measure(scenario, conc, want, map[string]func() *http.Request{"floor": floorReq, "api": apiReq}, procs, []string{"floor", "api"})
		a, f := r["api"], r["floor"]
		a.Ratio, a.RatioTo = a.ReqPerSec/f.ReqPerSec, "floor req/s"
		return a, f
	}
	for _, conc := range []int{16, 64} {
		if selected("GET /models") {
			a, f := pair("GET /models", conc, 200, request("GET", floor.base+"/api/v1/models", token, nil),
				request("GET", api.base+"/api/v1/models", token, nil))
			a.Note = fmt.Sprintf("p99 %.2f× floor's", a.P99ms/f.P99ms)
			add(f)
			add(a)
		}
		if selected("POST /conversations") {
			a, f := pair("POST /conversations (valid, inserts)", conc, 201, request("POST", floor.base+"/api/v1/conversations", token, valid),
				request("POST", api.base+"/api/v1/conversations", token, valid))
			add(f)
			add(a)
			r := measure("POST /conversations (invalid, 422)", conc, 422, map[string]func() *http.Request{
				"api": request("POST", api.base+"/api/v1/conversations", token, invalid)}, procs, []string{"api"})
			inv := r["api"]
			inv.Ratio, inv.RatioTo = inv.ReqPerSec/a.ReqPerSec, "valid POST req/s"
			add(inv)
		}
		if selected("GET /conversations") {
			a, f := pair("GET /conversations (a page of 20)", conc, 200, request("GET", floor.base+"/api/v1/conversations", token, nil),
				request("GET", api.base+"/api/v1/conversations", token, nil))
			add(f)
			add(a)
		}
	}

	// A page of messages in a conversation of 100 and of 100,000.
	if selected("messages page") {
		if err := messagesPage(api, dbURL, token); err != nil {
			return err
		}
	}
	// 1 GiB upload against dd to the same disk (before login, whose argon2id buffers would
	// otherwise inflate the resident set the upload is measured against).
	if selected("upload") {
		if err := upload(api, work, token); err != nil {
			return err
		}
	}
	if selected("login") {
		login(api, token)
	}
	if selected("stream") {
		if err := streaming(bin, env, work, token); err != nil {
			return err
		}
	}
	if selected("observability") {
		if err := observability(bin, env, work, token, floor); err != nil {
			return err
		}
	}

	b, _ := json.MarshalIndent(results, "", "  ")
	must(os.MkdirAll(filepath.Dir(*out), 0o755))
	must(os.WriteFile(*out, b, 0o644))
	fmt.Println("\nfigures written to", *out)
	budget()
	return nil
}

func messagesPage(api *proc, dbURL, token string) error {
	convs := map[int]string{}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		return err
	}
	for _, n := range []int{100, 100_000} {
		c := post(api.base+"/api/v1/conversations", token, map[string]any{"title": fmt.Sprint(n, " messages")})
		id := c["id"].(string)
		convs[n] = id
		rows := make([][]any, n)
		now := time.Now()
		for i := range rows {
			rows[i] = []any{uuid.Must(uuid.NewV7()), uuid.MustParse(id), "user", fmt.Sprintf("message %d", i), "complete", now, now}
		}
		if _, err := conn.CopyFrom(context.Background(), pgx.Identifier{"messages"},
			[]string{"id", "conversation_id", "role", "content", "status", "created_at", "updated_at"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
	}
	_, _ = conn.Exec(context.Background(), "ANALYZE messages")
	conn.Close(context.Background())
	{
		conc := 16
		sides := map[string]func() *http.Request{
			"100":    request("GET", api.base+"/api/v1/conversations/"+convs[100]+"/messages?limit=50", token, nil),
			"100000": request("GET", api.base+"/api/v1/conversations/"+convs[100_000]+"/messages?limit=50", token, nil),
		}
		r := measure("messages page", conc, 200, sides, map[string]*proc{"100": api, "100000": api}, []string{"100", "100000"})
		small, big := r["100"], r["100000"]
		small.Scenario, small.Server = "GET messages page (50) in 100 messages", "api"
		big.Scenario, big.Server = "GET messages page (50) in 100,000 messages", "api"
		big.Ratio, big.RatioTo = small.ReqPerSec/big.ReqPerSec, "cost at 100 (req/s ratio)"
		add(small)
		add(big)
	}
	return nil
}

// login is argon2id-bound: ms per login and CPU per login.
func login(api *proc, token string) {
	{
		login := jsonBody(map[string]any{"email": "bench@example.com", "password": "correct horse battery"})
		cpu0 := api.cpu()
		rps, lat, errs := load(2, *duration, request("POST", api.base+"/api/v1/auth/login", "", login), 200)
		n := rps * duration.Seconds()
		cpu := api.cpu() - cpu0
		add(Result{Scenario: "POST /auth/login (argon2id 19 MiB, t=2)", Server: "api", Conns: 2, ReqPerSec: rps, P50ms: pct(lat, .5),
			P99ms: pct(lat, .99), Errors: errs, Note: fmt.Sprintf("%.1f ms CPU per login", float64(cpu.Microseconds())/1000/n)})
	}
}

func upload(api *proc, work, token string) error {
	{
		const size = 1 << 30
		api.resetPeak()
		before := api.statusKB("VmRSS") / 1024
		body, ct := multipartZeros(size)
		req, _ := http.NewRequest("POST", api.base+"/api/v1/files", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var f map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&f)
		resp.Body.Close()
		el := time.Since(t0)
		if resp.StatusCode != 201 {
			return fmt.Errorf("upload: %d %v", resp.StatusCode, f)
		}
		up := size / el.Seconds() / (1 << 20)
		peak := api.peakMiB()
		_, _ = http.DefaultClient.Do(request("DELETE", api.base+"/api/v1/files/"+f["id"].(string), token, nil)())

		ddFile := filepath.Join(work, "dd.bin")
		t0 = time.Now()
		if out, err := exec.Command("dd", "if=/dev/zero", "of="+ddFile, "bs=1M", "count=1024", "conv=fsync").CombinedOutput(); err != nil {
			return fmt.Errorf("dd: %v\n%s", err, out)
		}
		dd := size / time.Since(t0).Seconds() / (1 << 20)
		_ = os.Remove(ddFile)
		add(Result{Scenario: "dd 1 GiB to the same disk (conv=fsync)", Server: "dd", Note: fmt.Sprintf("%.0f MiB/s", dd)})
		add(Result{Scenario: "POST /files, 1 GiB multipart upload", Server: "api", PeakRSSMiB: peak, Ratio: up / dd, RatioTo: "dd throughput",
			Note: fmt.Sprintf("%.0f MiB/s; RSS before %.1f MiB", up, before)})
	}
	return nil
}

// streaming is the time from a provider chunk to the client's event, through the server
// and through nginx.
func streaming(bin string, env []string, work, token string) error {
	fake := fakeopenai.Start()
	defer fake.Close()
	senv := append(slices.Clone(env), "LLM_PROVIDER=openai", "LLM_BASE_URL="+fake.BaseURL(), "LLM_MODEL=fake-model")
	sapi, err := startProc("api-stream", bin, senv, filepath.Join(work, "api-stream.log"), "serve")
	if err != nil {
		return err
	}
	defer sapi.stop()
	sapi.waitReady("/api/v1/health")
	conv := post(sapi.base+"/api/v1/conversations", token, map[string]any{})
	p50, p99 := streamLatency(fake, sapi.base, token, conv["id"].(string))
	add(Result{Scenario: "stream: provider chunk → client event", Server: "api", P50ms: p50, P99ms: p99, Note: "200 chunks"})
	if _, err := exec.LookPath("nginx"); err == nil {
		ng, stopNginx, err := startNginx(work, sapi.base)
		if err != nil {
			fmt.Println("nginx:", err)
		} else {
			p50, p99 := streamLatency(fake, ng, token, conv["id"].(string))
			stopNginx()
			add(Result{Scenario: "stream: provider chunk → client event via nginx", Server: "api", P50ms: p50, P99ms: p99, Note: "200 chunks"})
		}
	}
	return nil
}

func multipartZeros(size int64) (io.Reader, string) {
	head := "--bench\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n"
	tail := "\r\n--bench--\r\n"
	return io.MultiReader(strings.NewReader(head), &zeros{n: size}, strings.NewReader(tail)), "multipart/form-data; boundary=bench"
}

type zeros struct{ n int64 }

var zeroBuf = bytes.Repeat([]byte("z"), 64<<10)

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := copy(p, zeroBuf[:min(int64(len(zeroBuf)), z.n)])
	z.n -= int64(k)
	return k, nil
}

func streamLatency(fake *fakeopenai.Server, base, token, conv string) (float64, float64) {
	const chunks = 200
	words := make([]string, chunks)
	for i := range words {
		words[i] = "word "
	}
	step := make(chan struct{})
	fake.Set(fakeopenai.Behavior{Chunks: words, Step: step})
	resp, err := http.DefaultClient.Do(request("POST", base+"/api/v1/conversations/"+conv+"/messages/stream", token, jsonBody(map[string]string{"content": "go"}))())
	must(err)
	defer resp.Body.Close()
	events := make(chan string, 4)
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := bytes.Index(buf, []byte("\n\n"))
				if i < 0 {
					break
				}
				ev := string(buf[:i])
				buf = buf[i+2:]
				if strings.Contains(ev, "event: ") {
					events <- ev
				}
			}
			if err != nil {
				close(events)
				return
			}
		}
	}()
	<-events // message
	<-events // first delta
	var lat []time.Duration
	for i := 1; i < chunks; i++ {
		t0 := time.Now()
		step <- struct{}{}
		<-events
		lat = append(lat, time.Since(t0))
	}
	step <- struct{}{}
	for range events {
	}
	return pct(lat, .5), pct(lat, .99)
}

func startNginx(work, upstream string) (string, func(), error) {
	conf, err := os.ReadFile("nginx/nginx.conf")
	if err != nil {
		return "", nil, err
	}
	port := freePort()
	dir := filepath.Join(work, "nginx")
	_ = os.MkdirAll(dir, 0o755)
	c := strings.Replace(string(conf), "server api:8080;", "server "+strings.TrimPrefix(upstream, "http://")+";", 1)
	c = strings.Replace(c, "listen 8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port), 1)
	c = strings.Replace(c, "access_log /dev/stdout json;", "access_log off;", 1)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", path, "-g", "pid "+filepath.Join(dir, "nginx.pid")+"; daemon off;")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; i < 200; i++ {
		if r, err := http.Get(base + "/nginx-health"); err == nil {
			r.Body.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return base, func() { _ = cmd.Process.Signal(syscall.SIGQUIT); _ = cmd.Wait() }, nil
}

// observability measures what metrics and tracing cost: the same requests against three
// api processes started alike (observability off; METRICS_ADDR set; tracing 10 % of
// requests to an OTLP receiver that accepts and discards) and the floor, alternated round
// by round.
func observability(bin string, env []string, work, token string, floor *proc) error {
	discard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer discard.Close()
	plain, err := startProc("api", bin, env, filepath.Join(work, "api-plain.log"), "serve")
	if err != nil {
		return err
	}
	defer plain.stop()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort())
	withMetrics, err := startProc("api+metrics", bin, append(slices.Clone(env), "METRICS_ADDR="+metricsAddr), filepath.Join(work, "api-metrics.log"), "serve")
	if err != nil {
		return err
	}
	defer withMetrics.stop()
	traced, err := startProc("api+traces", bin, append(slices.Clone(env), "OTEL_EXPORTER_OTLP_ENDPOINT="+discard.URL, "OTEL_TRACES_SAMPLER_ARG=0.1"),
		filepath.Join(work, "api-traces.log"), "serve")
	if err != nil {
		return err
	}
	defer traced.stop()
	plain.waitReady("/api/v1/health")
	withMetrics.waitReady("/api/v1/health")
	traced.waitReady("/api/v1/health")
	procs := map[string]*proc{"floor": floor, "api": plain, "api+metrics": withMetrics, "api+traces": traced}
	order := []string{"floor", "api", "api+metrics", "api+traces"}
	valid := jsonBody(map[string]any{"title": "Trip to Lisbon", "model": "echo"})
	for _, sc := range []struct {
		name, method, path string
		body               []byte
		want               int
	}{
		{"GET /models (observability)", "GET", "/api/v1/models", nil, 200},
		{"POST /conversations (observability)", "POST", "/api/v1/conversations", valid, 201},
	} {
		sides := map[string]func() *http.Request{}
		for side, p := range procs {
			sides[side] = request(sc.method, p.base+sc.path, token, sc.body)
		}
		r := measure(sc.name, 16, sc.want, sides, procs, order)
		for _, side := range order {
			res := r[side]
			if side != "floor" {
				res.Ratio, res.RatioTo = res.ReqPerSec/r["floor"].ReqPerSec, "floor req/s"
				res.Note = fmt.Sprintf("%.3f× api (observability off)", res.ReqPerSec/r["api"].ReqPerSec)
			}
			add(res)
		}
	}
	// Scraped once at the end: the endpoint answers with what was counted.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `assistant_http_request_duration_seconds_count{class="2xx",operation="listModels"}`) {
		return fmt.Errorf("scrape: %d, no request counter", resp.StatusCode)
	}
	return nil
}

// budget prints each line of the performance budget with the measured figure.
func budget() {
	find := func(scenario, server string, conns int) *Result {
		for i := range results {
			r := &results[i]
			if r.Scenario == scenario && r.Server == server && (conns == 0 || r.Conns == conns) {
				return r
			}
		}
		return nil
	}
	fmt.Println("\nbudget:")
	check := func(ok bool, line string) {
		mark := "MISS"
		if ok {
			mark = "ok  "
		}
		fmt.Printf("  %s %s\n", mark, line)
	}
	for _, c := range []int{16, 64} {
		if a, f := find("GET /models", "api", c), find("GET /models", "floor", c); a != nil && f != nil {
			check(a.Ratio >= 0.80, fmt.Sprintf("GET /models c=%d: %.2f× floor throughput (≥ 0.80)", c, a.Ratio))
			check(a.P99ms <= 2*f.P99ms, fmt.Sprintf("GET /models c=%d: p99 %.2f× floor's (≤ 2)", c, a.P99ms/f.P99ms))
		}
		if a := find("POST /conversations (valid, inserts)", "api", c); a != nil {
			check(a.Ratio >= 0.85, fmt.Sprintf("POST /conversations c=%d: %.2f× floor (≥ 0.85)", c, a.Ratio))
		}
		// The same budget holds with the metrics on.
		if a := find("GET /models (observability)", "api+metrics", c); a != nil {
			check(a.Ratio >= 0.80, fmt.Sprintf("GET /models c=%d, metrics on: %.2f× floor throughput (≥ 0.80)", c, a.Ratio))
		}
		if a := find("POST /conversations (observability)", "api+metrics", c); a != nil {
			check(a.Ratio >= 0.85, fmt.Sprintf("POST /conversations c=%d, metrics on: %.2f× floor (≥ 0.85)", c, a.Ratio))
		}
		if a := find("POST /conversations (invalid, 422)", "api", c); a != nil {
			check(a.Ratio >= 1, fmt.Sprintf("invalid POST c=%d: %.2f× the valid POST (≥ 1)", c, a.Ratio))
		}
	}
	if b := find("GET messages page (50) in 100,000 messages", "api", 0); b != nil {
		check(b.Ratio <= 1.2, fmt.Sprintf("messages page at 100,000: %.2f× the cost at 100 (≤ 1.2)", b.Ratio))
	}
	if u := find("POST /files, 1 GiB multipart upload", "api", 0); u != nil {
		check(u.PeakRSSMiB < 64, fmt.Sprintf("1 GiB upload: peak RSS %.1f MiB (< 64)", u.PeakRSSMiB))
		check(u.Ratio >= 0.5, fmt.Sprintf("1 GiB upload: %.2f× dd (≥ 0.5)", u.Ratio))
	}
	if s := find("stream: provider chunk → client event", "api", 0); s != nil {
		check(s.P50ms < 5, fmt.Sprintf("stream: median chunk-to-event %.3f ms (< 5)", s.P50ms))
	}
	if i := find("idle RSS after start", "api", 0); i != nil {
		check(i.PeakRSSMiB < 30, fmt.Sprintf("idle RSS %.1f MiB (< 30)", i.PeakRSSMiB))
	}
	if s := find("start to ready (GET /health 200), median of 5", "api", 0); s != nil {
		check(s.P50ms < 200, fmt.Sprintf("start to ready %.1f ms (< 200)", s.P50ms))
	}
}
