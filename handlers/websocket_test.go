package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/executors"
	"provisioning/fanout"
	"provisioning/handlers"
	"provisioning/projections"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeRunner reports progress then succeeds, without a process.
type fakeRunner struct{}

func (fakeRunner) Run(ctx context.Context, job executors.Job, progress func(executors.Progress)) executors.Result {
	progress(executors.Progress{Percent: 40, Step: "Creating servers"})
	progress(executors.Progress{Percent: 80, Step: "Installing"})
	return executors.Result{ExitCode: 0, Output: "done"}
}

type wsEnv struct {
	*httptest.Server
	store *events.Store
	hub   *fanout.Hub
}

type wsOption func(*handlers.Orchestrator)

// smallBuffers is a listener whose connections have tiny send buffers,
// so a client that does not read blocks the server after a few frames
// instead of megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// startWS serves the orchestrator with its hub, views and executors.
func startWS(t *testing.T, window int, opts ...wsOption) *wsEnv {
	t.Helper()
	env := eventstest.Start(t)
	tasks := projections.NewTasks()
	view := projections.NewRunner(env.Store, events.EventsStream, nil, quiet(), tasks)
	hub := fanout.NewHub(env.Store, window)
	pool := executors.NewPool(env.Store, executors.Config{CLI: []string{"fake"}, Workers: 2, ProgressInterval: time.Millisecond}, fakeRunner{}, quiet(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{view.Run, hub.Run, pool.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	o := &handlers.Orchestrator{Store: env.Store, Tasks: tasks, View: view, CLI: "provisioning", TaskTimeout: time.Minute,
		Log: quiet(), Registry: prometheus.NewRegistry(), Hub: hub}
	for _, opt := range opts {
		opt(o)
	}
	srv := httptest.NewUnstartedServer(o.Handler())
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); cancel(); wg.Wait() })
	<-hub.Ready()
	return &wsEnv{Server: srv, store: env.Store, hub: hub}
}

func (e *wsEnv) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.URL, "http") + "/ws" + query
}

type frame struct {
	EventType string          `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	Metadata  struct {
		EventID       string `json:"event_id"`
		TaskID        string `json:"task_id"`
		Status        string `json:"status"`
		CorrelationID string `json:"correlation_id"`
	} `json:"metadata"`
	Seq uint64 `json:"seq"`
}

func dial(t *testing.T, url string, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func read(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return f
}

// readUntil reads frames until one satisfies done.
func readUntil(t *testing.T, c *websocket.Conn, done func(frame) bool) []frame {
	t.Helper()
	var out []frame
	for {
		f := read(t, c)
		out = append(out, f)
		if done(f) {
			return out
		}
	}
}

func submit(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/workflows/servers/create", "application/json", strings.NewReader(`{"infra":"production","settings":"config.ncl"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct{ Data string }
	_ = json.NewDecoder(resp.Body).Decode(&env)
	if resp.StatusCode != 200 || env.Data == "" {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	return env.Data
}

func completed(id string) func(frame) bool {
	return func(f frame) bool { return f.Metadata.TaskID == id && f.Metadata.Status == "completed" }
}

func TestWebSocketStreamsATaskLiveInOrder(t *testing.T) {
	t.Parallel()
	e := startWS(t, 0)
	c := dial(t, e.wsURL(""), nil)
	id := submit(t, e.URL)
	got := readUntil(t, c, completed(id))
	var kinds []string
	for i, f := range got {
		if i > 0 && f.Seq <= got[i-1].Seq {
			t.Errorf("frame %d: seq %d after %d", i, f.Seq, got[i-1].Seq)
		}
		if f.Metadata.TaskID != id || f.Metadata.EventID == "" || f.Timestamp.IsZero() {
			t.Errorf("frame %d: %+v", i, f)
		}
		kind := f.EventType
		if f.Metadata.Status != "" {
			kind += ":" + f.Metadata.Status
		}
		if i > 0 && kind == "TaskProgress" && kinds[len(kinds)-1] == kind {
			continue // progress updates may be coalesced
		}
		kinds = append(kinds, kind)
	}
	want := "TaskCreated TaskStatusChanged:running TaskProgress TaskStatusChanged:completed"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("frames: %s\nwant:   %s", strings.Join(kinds, " "), want)
	}
	var data struct{ Status string }
	_ = json.Unmarshal(got[len(got)-1].Data, &data)
	if data.Status != "completed" {
		t.Errorf("data.status = %q, want lower case", data.Status)
	}
}

func TestWebSocketFilters(t *testing.T) {
	t.Parallel()
	e := startWS(t, 0)
	byType := dial(t, e.wsURL("?events=TaskStatusChanged,TaskCreated"), nil)
	id1 := submit(t, e.URL)
	readUntil(t, byType, completed(id1))
	before, _ := e.store.LastSeq(context.Background(), events.EventsStream)
	id2 := submit(t, e.URL)
	// Dialled after the submission: since= picks up from before it.
	byTask := dial(t, e.wsURL(fmt.Sprintf("?task_id=%s&since=%d&events=TaskProgress,TaskStatusChanged", id2, before+1)), nil)

	var kinds []string
	for _, f := range readUntil(t, byType, completed(id2)) {
		kinds = append(kinds, f.EventType)
		if f.Metadata.TaskID != id2 {
			t.Errorf("frame about %s after %s completed", f.Metadata.TaskID, id1)
		}
	}
	if strings.Join(kinds, " ") != "TaskCreated TaskStatusChanged TaskStatusChanged" {
		t.Errorf("events=TaskStatusChanged,TaskCreated got %v", kinds)
	}
	kinds = nil
	for _, f := range readUntil(t, byTask, completed(id2)) {
		if f.EventType == "TaskProgress" && kinds[len(kinds)-1] == f.EventType {
			continue
		}
		kinds = append(kinds, f.EventType)
		if f.Metadata.TaskID != id2 {
			t.Errorf("task_id=%s got a frame about %s", id2, f.Metadata.TaskID)
		}
	}
	if strings.Join(kinds, " ") != "TaskStatusChanged TaskProgress TaskStatusChanged" {
		t.Errorf("task_id and events got %v", kinds)
	}
}

func TestWebSocketRefusals(t *testing.T) {
	t.Parallel()
	e := startWS(t, 0, func(o *handlers.Orchestrator) {
		o.Auth = tokenAuth("good-token")
		o.WebSocket.AllowedOrigins = []string{"https://dash.example.com"}
	})
	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		status int
	}{
		{"no token", "", nil, 401},
		{"bad token in query", "?token=bad-token", nil, 401},
		{"bad bearer", "", http.Header{"Authorization": {"Bearer bad-token"}}, 401},
		{"unknown event type", "?token=good-token&events=TaskCreated,Bogus", nil, 400},
		{"bad since", "?token=good-token&since=-1", nil, 400},
		{"bad task id", "?token=good-token&task_id=a.b", nil, 400},
		{"foreign origin", "?token=good-token", http.Header{"Origin": {"https://evil.example.org"}}, 403},
		{"allowed origin", "?token=good-token", http.Header{"Origin": {"https://dash.example.com"}}, 101},
		{"token in header", "", http.Header{"Authorization": {"Bearer good-token"}}, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, e.wsURL(tc.query), &websocket.DialOptions{HTTPHeader: tc.header})
			if resp == nil {
				t.Fatalf("no answer: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tc.status, err)
			}
			if c != nil {
				_ = c.CloseNow()
				return
			}
			var body struct {
				Success bool
				Error   string
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if body.Success || body.Error == "" || strings.Contains(body.Error, "bad-token") {
				t.Errorf("body = %+v", body)
			}
		})
	}
	resp, err := http.Get(e.URL + "/ws?token=good-token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET /ws: %d", resp.StatusCode)
	}
}

type tokenAuth string

func (a tokenAuth) Authenticate(r *http.Request) (handlers.Principal, error) {
	if handlers.BearerToken(r) != string(a) {
		return handlers.Principal{}, errors.New("invalid token " + handlers.BearerToken(r))
	}
	return handlers.Principal{ID: "u1"}, nil
}

// TestWebSocketSinceReplaysThenGoesLive checks the seam: a client that
// resumes from an old position (out of the hub's window) while events
// keep arriving gets every event once, in order.
func TestWebSocketSinceReplaysThenGoesLive(t *testing.T) {
	t.Parallel()
	e := startWS(t, 64)
	ctx := context.Background()
	id := events.NewID()
	appendProgress := func(n int, pace time.Duration) {
		for range n {
			ev, _ := events.New(events.TaskProgress, id, events.TaskProgressData{TaskID: id, Progress: 1})
			if _, err := e.store.Append(ctx, ev); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(pace) // keep appending while the clients connect
		}
	}
	appendProgress(150, 0)
	last, _ := e.store.LastSeq(ctx, events.EventsStream)
	eventstest.Eventually(t, 5*time.Second, func() bool { return e.hub.Pos() == last }, "hub caught up")

	const total = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); appendProgress(total-150, time.Millisecond) }()
	// From the start, out of the hub's window, inside it, and ahead of it.
	for _, since := range []uint64{1, 50, last - 5, last + 3} {
		c := dial(t, e.wsURL(fmt.Sprintf("?since=%d&task_id=%s", since, id)), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := since; want <= total; want++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, b, err := c.Read(ctx)
				cancel()
				var f frame
				if err == nil {
					err = json.Unmarshal(b, &f)
				}
				if err != nil || f.Seq != want {
					t.Errorf("since=%d: got seq %d (%v), want %d: a gap or a duplicate", since, f.Seq, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestWebSocketSlowClientIsCutOff: a client that stops reading is
// disconnected with a close reason once it is a window behind, while 50
// others receive every event.
func TestWebSocketSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	const window, total = 512, 800
	e := startWS(t, window, func(o *handlers.Orchestrator) { o.WebSocket.WriteTimeout = time.Minute })
	slow := dialSmallBuffer(t, e.wsURL(""))
	readers := make([]*websocket.Conn, 50)
	for i := range readers {
		readers[i] = dial(t, e.wsURL(""), nil)
	}
	id := events.NewID()
	go func() {
		for range total {
			ev, _ := events.New(events.TaskProgress, id, events.TaskProgressData{TaskID: id, Progress: 1})
			if _, err := e.store.Append(context.Background(), ev); err != nil {
				return
			}
			// A steady 1,000 events/s: the point is the slow client,
			// not how fast 50 readers go under the race detector.
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, len(readers))
	for _, c := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := uint64(0)
			for n := 0; n < total; n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, b, err := c.Read(ctx)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				seq := seqOf(b)
				if seq != prev+1 && prev != 0 {
					errs <- fmt.Errorf("seq %d after %d", seq, prev)
					return
				}
				prev = seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a reading client: %v", err)
	}
	// Now the slow client reads what was buffered, then the close.
	received := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, _, err := slow.Read(ctx)
		cancel()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("slow client ended with %v, want a policy-violation close", err)
			}
			var ce websocket.CloseError
			errors.As(err, &ce)
			if !strings.Contains(ce.Reason, "too slow") {
				t.Errorf("close reason %q", ce.Reason)
			}
			break
		}
		received++
	}
	if received >= total {
		t.Fatalf("slow client received all %d frames", received)
	}
}

// dialSmallBuffer connects with a tiny receive buffer, so that a client
// that does not read fills up after a few frames, not megabytes.
func dialSmallBuffer(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	dialer := &net.Dialer{Control: nil}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// seqOf reads the seq of a frame cheaply: it is the frame's last member.
func seqOf(b []byte) uint64 {
	i := strings.LastIndex(string(b), `"seq":`)
	var n uint64
	_, _ = fmt.Sscanf(string(b[i+6:]), "%d}", &n)
	return n
}
