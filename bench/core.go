package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"provisioning/app"
	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/handlers"
	"provisioning/handlers/orchestrator"
	"provisioning/projections"
)

// CoreOptions tunes the core figures.
type CoreOptions struct {
	// NATSURL runs the instance against an existing NATS (the three-node
	// cluster) with Replicas replicas; empty embeds a server.
	NATSURL string
	// SecretsKeyFile is shared by every instance on NATSURL (they are
	// one deployment); empty: each instance's data directory.
	SecretsKeyFile string
	Replicas       int
	Sync           string        // "always" or an interval
	Clients        int           // concurrent keep-alive clients (64)
	Duration       time.Duration // per load phase
	CLI            []string      // the provisioning CLI (binary + "simulate")
	Log            *slog.Logger
}

func (o CoreOptions) setup() string {
	if o.NATSURL != "" {
		return "3-node cluster, R3"
	}
	return "1 node, sync " + o.Sync
}

const serversBody = `{"infra": "production", "settings": "config.ncl", "check_mode": false, "wait": true}`

func instance(ctx context.Context, opts CoreOptions, workers int) (*app.Instance, string, func(), error) {
	dir, err := os.MkdirTemp("", "provbench-")
	if err != nil {
		return nil, "", nil, err
	}
	cfg := app.DefaultConfig()
	cfg.DataDir, cfg.NATSListen, cfg.Sync = dir, "", opts.Sync
	if opts.NATSURL != "" {
		cfg.NATSURL, cfg.Replicas = opts.NATSURL, max(opts.Replicas, 1)
	}
	cfg.SecretsKeyFile = opts.SecretsKeyFile
	// The benchmark measures the stack, not the limits (raised, not off:
	// the counters are still kept).
	cfg.RateLimits = handlers.RateLimits{Auth: handlers.Limit{Requests: 1_000_000, Window: time.Minute},
		General: handlers.Limit{Requests: 100_000_000, Window: time.Minute}, Batch: handlers.Limit{Requests: 1_000_000, Window: time.Minute}}
	cfg.OrchestratorAddr, cfg.ControlAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Workers, cfg.SimSpeed = workers, 0
	cfg.AdminPassword = benchPassword
	cfg.BootstrapOutput = io.Discard
	if len(opts.CLI) > 0 {
		cfg.CLI = opts.CLI
	}
	in, err := app.Start(ctx, cfg, opts.Log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	token, err := Login(in.ControlURL(), "admin", benchPassword)
	if err != nil {
		in.Close(context.Background())
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	return in, token, func() { in.Close(context.Background()); os.RemoveAll(dir) }, nil
}

const benchPassword = "bench-admin-password"

// Login returns a token of the control center at base.
func Login(base, username, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	var out struct {
		Token string `json:"token"`
	}
	if err := postJSON(base+"/auth/login", "", body, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login %s: %w", base, err)
	}
	return out.Token, nil
}

// postJSON posts body (with token, when given) and decodes the answer's
// data into out; an error answer is an error naming its status and
// message.
func postJSON(url, token string, body []byte, out any) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   string          `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("%d: %w", res.StatusCode, err)
	}
	if !env.Success {
		return fmt.Errorf("%d %s", res.StatusCode, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// authed sends a POST of body with a bearer token.
func authed(ctx context.Context, c *http.Client, url, token, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.Do(req)
}

// Core measures the submission path against its baselines, for one sync
// mode: raw JetStream publishes, a chi handler that decodes the body and
// publishes once, and the real POST /workflows/servers/create; peak rates
// with Clients keep-alive clients and latencies at half of each peak.
func Core(ctx context.Context, opts CoreOptions) ([]Row, error) {
	in, token, stop, err := instance(ctx, opts, 0)
	if err != nil {
		return nil, err
	}
	defer stop()
	setup := opts.setup()
	js := in.Store().JetStream()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage, Replicas: max(opts.Replicas, 1)}); err != nil {
		return nil, fmt.Errorf("bench stream: %w", err)
	}

	raw := publishLoop(ctx, js, opts.Clients, opts.Duration)

	baseURL, closeBase, err := baselineServer(js)
	if err != nil {
		return nil, err
	}
	defer closeBase()
	l, err := measurePosts(ctx, opts, baseURL, in.OrchestratorURL()+"/workflows/servers/create", token)
	if err != nil {
		return nil, err
	}
	basePeak, realPeak, baseHalf, realHalf := l.basePeak, l.realPeak, l.baseHalf, l.realHalf
	p99 := realHalf.Latencies.Percentile(99)
	return []Row{
		{Section: "core", Setup: setup, Name: "raw JetStream sync publishes", Unit: "msg/s", Value: raw.Rate()},
		{Section: "conventions", Setup: setup, Name: fmt.Sprintf("POST servers/create, full stack (token, policy, limits, audit), %d clients", opts.Clients), Unit: "req/s",
			Value: realPeak.Rate(), Baseline: basePeak.Rate(), BaselineName: "chi + decode + 1 publish", Target: ">= 0.6x",
			Met: Met(realPeak.Rate() >= 0.6*basePeak.Rate())},
		{Section: "conventions", Setup: setup, Name: "POST full stack p50 at peak", Unit: "ms", Value: ms(realPeak.Latencies.Percentile(50)),
			Baseline: ms(basePeak.Latencies.Percentile(50)), BaselineName: "chi + 1 publish"},
		{Section: "conventions", Setup: setup, Name: "POST full stack p99 at peak", Unit: "ms", Value: ms(realPeak.Latencies.Percentile(99)),
			Baseline: ms(basePeak.Latencies.Percentile(99)), BaselineName: "chi + 1 publish"},
		{Section: "conventions", Setup: setup, Name: "POST full stack p50 at half of peak", Unit: "ms", Value: ms(realHalf.Latencies.Percentile(50)),
			Baseline: ms(baseHalf.Latencies.Percentile(50)), BaselineName: "chi + 1 publish at half its peak"},
		{Section: "conventions", Setup: setup, Name: "POST full stack p99 at half of peak", Unit: "ms", Value: ms(p99),
			Baseline: ms(baseHalf.Latencies.Percentile(99)), BaselineName: "chi + 1 publish at half its peak",
			Target: "< 10 ms", Met: Met(p99 < 10*time.Millisecond)},
	}, nil
}

// postLoads are the four load phases comparing an endpoint with the
// baseline: both at their peak with clients keep-alive clients, then both
// at half of their own peak.
type postLoads struct {
	basePeak, realPeak, baseHalf, realHalf Load
}

func measurePosts(ctx context.Context, opts CoreOptions, baseURL, realURL, token string) (postLoads, error) {
	post := func(url, token string) Call {
		return func(ctx context.Context, c *http.Client) bool {
			res, err := authed(ctx, c, url, token, serversBody)
			if err != nil {
				return false
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		}
	}
	var l postLoads
	l.basePeak = ClosedLoop(ctx, opts.Clients, opts.Duration, post(baseURL, ""))
	l.realPeak = ClosedLoop(ctx, opts.Clients, opts.Duration, post(realURL, token))
	l.baseHalf = OpenLoop(ctx, opts.Clients, l.basePeak.Rate()/2, opts.Duration, post(baseURL, ""))
	l.realHalf = OpenLoop(ctx, opts.Clients, l.realPeak.Rate()/2, opts.Duration, post(realURL, token))
	if n := l.realPeak.Errors + l.realHalf.Errors; n > 0 {
		return l, fmt.Errorf("%s failed %d requests under load", realURL, n)
	}
	return l, nil
}

// publishLoop is the raw baseline: clients goroutines publishing
// synchronously to a stream on the same server.
func publishLoop(ctx context.Context, js jetstream.JetStream, clients int, d time.Duration) Load {
	var n atomic.Int64
	body := []byte(serversBody)
	return ClosedLoop(ctx, clients, d, func(ctx context.Context, _ *http.Client) bool {
		_, err := js.Publish(ctx, "bench.raw."+strconv.FormatInt(n.Add(1), 10), body)
		return err == nil
	})
}

// baselineServer is the comparison stack: chi, the same http.Server
// settings, a handler that decodes the body and publishes it once.
func baselineServer(js jetstream.JetStream) (string, func(), error) {
	r := chi.NewRouter()
	var n atomic.Int64
	r.Post("/baseline", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Infra     string `json:"infra"`
			Settings  string `json:"settings"`
			CheckMode bool   `json:"check_mode"`
			Wait      bool   `json:"wait"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := events.NewID()
		if _, err := js.Publish(r.Context(), "bench.base."+strconv.FormatInt(n.Add(1), 10), body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"success":true,"data":%q}`, id)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/baseline", func() { srv.Close() }, nil
}

// SubmitToRunning measures, with idle executors and the simulator at zero
// duration, the time from sending POST /workflows/servers/create to the
// task's Running event, one task at a time; the baseline is one
// synchronous JetStream publish on the same server.
func SubmitToRunning(ctx context.Context, opts CoreOptions, n int) ([]Row, error) {
	in, token, stop, err := instance(ctx, opts, 8)
	if err != nil {
		return nil, err
	}
	defer stop()
	setup := opts.setup()
	running := make(chan string, 16)
	completed := make(chan string, 16)
	sub, err := in.Store().Conn().Subscribe(events.TypeSubject(events.TaskStatusChanged), func(m *nats.Msg) {
		env, err := events.Parse(m.Data, 0)
		if err != nil {
			return
		}
		var d events.TaskStatusChangedData
		if env.Decode(&d) != nil {
			return
		}
		switch d.Status {
		case events.StatusRunning:
			running <- d.TaskID
		case events.StatusCompleted, events.StatusFailed:
			completed <- d.TaskID
		}
	})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	hc := NewClient(1)
	url := in.OrchestratorURL() + "/workflows/servers/create"
	var lat Latencies
	for i := 0; i < n; i++ {
		t0 := time.Now()
		res, err := authed(ctx, hc, url, token, serversBody)
		if err != nil {
			return nil, err
		}
		var env struct{ Data string }
		derr := json.NewDecoder(res.Body).Decode(&env)
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			return nil, fmt.Errorf("POST %s: status %s", url, res.Status)
		}
		if derr != nil {
			return nil, fmt.Errorf("POST %s: decoding the answer: %w", url, derr)
		}
		if env.Data == "" {
			return nil, fmt.Errorf("POST %s: answer has no task id", url)
		}
		if err := waitFor(ctx, running, env.Data); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		if err := waitFor(ctx, completed, env.Data); err != nil {
			return nil, err
		}
	}
	var pub Latencies
	js := in.Store().JetStream()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage, Replicas: max(opts.Replicas, 1)}); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, err := js.Publish(ctx, "bench.lat", []byte(serversBody)); err != nil {
			return nil, err
		}
		pub = append(pub, time.Since(t0))
	}
	p99 := lat.Percentile(99)
	return []Row{
		{Section: "core", Setup: setup, Name: "submit to Running p50 (idle executors)", Unit: "ms", Value: ms(lat.Percentile(50)),
			Baseline: ms(pub.Percentile(50)), BaselineName: "1 sync publish"},
		{Section: "core", Setup: setup, Name: "submit to Running p99 (idle executors)", Unit: "ms", Value: ms(p99),
			Baseline: ms(pub.Percentile(99)), BaselineName: "1 sync publish", Target: "< 5 ms", Met: Met(p99 < 5*time.Millisecond)},
	}, nil
}

func waitFor(ctx context.Context, ch <-chan string, id string) error {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == id {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("task %s: no event within 30s", id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// IdleRSS starts a binary, waits until it logs that it listens and has
// been idle for settle, and reads its resident memory in MB.
func IdleRSS(ctx context.Context, argv []string, readyLine string, settle time.Duration) (float64, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && bytes.Contains(sc.Bytes(), []byte(readyLine)) {
				signalled = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("%s never logged %q", argv[0], readyLine)
	}
	time.Sleep(settle)
	return RSS(cmd.Process.Pid)
}

// RSS reads a process's resident set (VmRSS) in MB.
func RSS(pid int) (float64, error) { return statusMB(pid, "VmRSS") }

// statusMB reads a memory field (VmRSS, VmHWM, ...) of /proc/<pid>/status,
// given there in kB, and returns it in MB.
func statusMB(pid int, field string) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s of %d: %w", field, pid, err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("no %s for %d", field, pid)
}

// CorePath measures the submission path of the core alone — event store,
// task view, the orchestrator's router without access control — against
// the same baseline on the same server: what the work of issue 2 costs,
// before authentication, policies, rate limits and audit are added (Core
// measures the whole stack).
func CorePath(ctx context.Context, opts CoreOptions) ([]Row, error) {
	dir, err := os.MkdirTemp("", "provbench-core-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir, Sync: opts.Sync})
	if err != nil {
		return nil, err
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := eventstore.DialInProcess(srv, "bench")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	store, err := eventstore.NewStore(nc)
	if err != nil {
		return nil, err
	}
	if err := store.Setup(ctx, eventstore.SetupConfig{Replicas: 1}); err != nil {
		return nil, err
	}
	tasks := projections.NewTasks()
	runner := projections.NewRunner(store, events.EventsStream, nil, opts.Log, tasks)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx) }()
	defer func() { cancel(); <-done }()
	o := &orchestrator.API{Store: store, Tasks: tasks, View: runner, CLI: "provisioning simulate", TaskTimeout: time.Hour,
		Log: opts.Log, Registry: prometheus.NewRegistry()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: o.UnguardedHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	js := store.JetStream()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	baseURL, closeBase, err := baselineServer(js)
	if err != nil {
		return nil, err
	}
	defer closeBase()
	l, err := measurePosts(ctx, opts, baseURL, "http://"+ln.Addr().String()+"/workflows/servers/create", "")
	if err != nil {
		return nil, err
	}
	basePeak, realPeak, baseHalf, realHalf := l.basePeak, l.realPeak, l.baseHalf, l.realHalf
	setup := opts.setup()
	p99 := realHalf.Latencies.Percentile(99)
	return []Row{
		{Section: "core", Setup: setup, Name: fmt.Sprintf("POST servers/create, core path, %d clients", opts.Clients), Unit: "req/s",
			Value: realPeak.Rate(), Baseline: basePeak.Rate(), BaselineName: "chi + decode + 1 publish", Target: ">= 0.7x",
			Met: Met(realPeak.Rate() >= 0.7*basePeak.Rate())},
		{Section: "core", Setup: setup, Name: "POST core path p99 at half of peak", Unit: "ms", Value: ms(p99),
			Baseline: ms(baseHalf.Latencies.Percentile(99)), BaselineName: "chi + 1 publish at half its peak",
			Target: "< 10 ms", Met: Met(p99 < 10*time.Millisecond)},
	}, nil
}
