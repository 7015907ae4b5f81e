package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/handlers"
)

type wsFrame struct {
	EventType string            `json:"event_type"`
	Timestamp time.Time         `json:"timestamp"`
	Data      map[string]any    `json:"data"`
	Metadata  map[string]string `json:"metadata"`
	Seq       uint64            `json:"seq"`
}

func wsURL(in *app.Instance, query string) string {
	return strings.Replace(in.OrchestratorURL(), "http://", "ws://", 1) + "/ws?" + query
}

func dialWS(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", strings.Split(url, "token=")[0], err, status)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readFrame(t *testing.T, c *websocket.Conn) wsFrame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	var f wsFrame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

func wsInstance(t *testing.T, tune ...func(*app.Config)) (*app.Instance, *apptest.Client, string) {
	t.Helper()
	cfg := apptest.Config(t)
	for _, f := range tune {
		f(&cfg)
	}
	in, orch, _ := apptest.StartAdmin(t, cfg)
	return in, orch, apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword)
}

func TestWebSocketStreamsATaskLiveInOrder(t *testing.T) {
	t.Parallel()
	in, orch, token := wsInstance(t)
	c := dialWS(t, wsURL(in, "token="+token+"&events=TaskCreated,TaskStatusChanged"), nil)
	id := submitTask(t, orch, "/workflows/servers/create", map[string]any{"infra": "ws"})
	var statuses []string
	var last uint64
	for len(statuses) == 0 || statuses[len(statuses)-1] != "completed" {
		f := readFrame(t, c)
		if f.Metadata["task_id"] != id {
			continue
		}
		if f.Seq <= last || f.Timestamp.IsZero() {
			t.Fatalf("frame out of order or without time: %+v after %d", f, last)
		}
		last = f.Seq
		if f.EventType == "TaskCreated" {
			statuses = append(statuses, "created")
			continue
		}
		if f.EventType != "TaskStatusChanged" || f.Data["task_id"] != id || f.Metadata["status"] != f.Data["status"] {
			t.Fatalf("unexpected frame %+v", f)
		}
		statuses = append(statuses, f.Data["status"].(string))
	}
	if got := strings.Join(statuses, ","); got != "created,running,completed" {
		t.Fatalf("statuses %s", got)
	}
}

func TestWebSocketFiltersAndSinceReplay(t *testing.T) {
	t.Parallel()
	in, orch, token := wsInstance(t, func(c *app.Config) { c.Workers = 0 })
	first := submitTask(t, orch, "/workflows/servers/create", map[string]any{"infra": "a"})
	submitTask(t, orch, "/workflows/servers/create", map[string]any{"infra": "b"})
	// since=1 replays the past, task_id narrows it to the first task.
	c := dialWS(t, wsURL(in, "token="+token+"&task_id="+first+"&since=1"), nil)
	if f := readFrame(t, c); f.EventType != "TaskCreated" || f.Metadata["task_id"] != first {
		t.Fatalf("replayed %+v", f)
	}
	// A cancel of the first task arrives live; the second task stays out.
	if res := orch.Do(t, "POST", "/tasks/"+first+"/cancel", nil); res.Status != 200 {
		t.Fatalf("cancel: %d %s", res.Status, res.Raw)
	}
	if f := readFrame(t, c); f.EventType != "TaskStatusChanged" || f.Data["status"] != "cancelled" || f.Metadata["task_id"] != first {
		t.Fatalf("live %+v", f)
	}
	// Unfiltered from the middle: every sequence once, replay then live.
	all := dialWS(t, wsURL(in, "token="+token+"&since=2"), nil)
	submitTask(t, orch, "/workflows/servers/create", map[string]any{"infra": "c"})
	for want := uint64(2); want <= 4; want++ {
		if f := readFrame(t, all); f.Seq != want {
			t.Fatalf("since=2: got seq %d, want %d", f.Seq, want)
		}
	}
	for _, q := range []string{"events=Nope", "since=x", "since=0", "task_id=a.b"} {
		res := orch.Do(t, "GET", "/ws?"+q, nil)
		if res.Status != 400 || res.Success {
			t.Errorf("/ws?%s: %d %s", q, res.Status, res.Raw)
		}
	}
	// A plain GET is told to upgrade, in the envelope.
	res := orch.Do(t, "GET", "/ws", nil)
	if res.Status != http.StatusUpgradeRequired || res.Success || res.Header.Get("Upgrade") != "websocket" {
		t.Errorf("plain GET /ws: %d %v %s", res.Status, res.Header, res.Raw)
	}
}

func TestWebSocketRefusesBadTokensAndForeignOrigins(t *testing.T) {
	t.Parallel()
	in, _, token := wsInstance(t)
	for _, q := range []string{"", "token=nope", "token=" + token + "x"} {
		_, res, err := websocket.Dial(context.Background(), wsURL(in, q), nil)
		if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
			t.Errorf("?%s: err %v status %v, want 401 before the upgrade", q, err, res)
		}
	}
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	dialWS(t, wsURL(in, ""), &websocket.DialOptions{HTTPHeader: hdr})
	foreign := http.Header{"Authorization": {"Bearer " + token}, "Origin": {"https://evil.example"}}
	_, res, err := websocket.Dial(context.Background(), wsURL(in, ""), &websocket.DialOptions{HTTPHeader: foreign})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v status %v, want 403", err, res)
	}
}

// smallReceiveBuffer makes a client whose socket fills after a few frames.
func smallReceiveBuffer() *http.Client {
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func TestANonReadingClientIsCutOffWhileFiftyOthersGetEverything(t *testing.T) {
	t.Parallel()
	const n, step = 3000, 100
	in, orch, token := wsInstance(t, func(c *app.Config) { c.Workers = 0; c.WSQueue = 256 })
	url := wsURL(in, "token="+token)
	slow := dialWS(t, url, &websocket.DialOptions{HTTPClient: smallReceiveBuffer()})
	readers := make([]*websocket.Conn, 50)
	for i := range readers {
		readers[i] = dialWS(t, url, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(readers))
	progress := make([]atomic.Int64, len(readers))
	for r, c := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer progress[r].Store(n) // a failed reader must not hold the appender up
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var prev uint64
			for i := 0; i < n; i++ {
				_, data, err := c.Read(ctx)
				if err != nil {
					errs <- fmt.Errorf("reader lost after %d frames: %w", i, err)
					return
				}
				var f wsFrame
				if err := json.Unmarshal(data, &f); err != nil || (prev != 0 && f.Seq != prev+1) {
					errs <- fmt.Errorf("frame %d: seq %d after %d (%v)", i, f.Seq, prev, err)
					return
				}
				prev = f.Seq
				progress[r].Store(int64(i + 1))
			}
		}()
	}
	// Append in steps the readers keep up with, so only the client that
	// does not read at all falls behind by more than its queue.
	for i := 0; i < n; i++ {
		id := events.NewID()
		e, _ := events.New(events.TaskCreated, id, events.TaskCreatedData{TaskID: id, Name: strings.Repeat("x", 200)})
		if _, err := in.Store().Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		if (i+1)%step == 0 {
			eventstest.Eventually(t, time.Minute, func() bool {
				for r := range progress {
					if progress[r].Load() < int64(i+1) {
						return false
					}
				}
				return true
			}, "readers did not keep up")
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventstest.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(string(orch.Do(t, "GET", "/metrics", nil).Raw), "websocket_dropped_total 1")
	}, "the non-reading client was never cut off")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, _, err := slow.Read(ctx)
		if err == nil {
			continue
		}
		// Cut off means a close frame saying why, or, when the frame could
		// not get through the full socket buffer, the connection ending;
		// running out of time means it was never cut off.
		var ce websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.StatusPolicyViolation || ctx.Err() != nil {
			t.Fatalf("slow client ended with %v, want it cut off with a policy violation", err)
		}
		break
	}
}

// Webhook registrations carry their secret: they never reach a stream.
func TestWebSocketNeverStreamsWebhookSecrets(t *testing.T) {
	t.Parallel()
	in, orch, token := wsInstance(t, func(c *app.Config) { c.Workers = 0 })
	secret := "a-webhook-secret-that-must-stay-home"
	res := orch.Do(t, "POST", "/webhooks", map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}, "secret": secret})
	if res.Status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", res.Status, res.Raw)
	}
	id := submitTask(t, orch, "/workflows/servers/create", map[string]any{"infra": "after"})
	c := dialWS(t, wsURL(in, "token="+token+"&since=1"), nil)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, data, err := c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), secret) || strings.Contains(string(data), `"event_type":"Webhook`) {
			t.Fatalf("a webhook event was streamed: %s", data)
		}
		if strings.Contains(string(data), id) {
			return // everything before the task's creation was replayed
		}
	}
}

// bearerProtocol is how a browser sends its token to /ws.
func bearerProtocol(token string) string {
	return handlers.WSBearerProtocol + base64.RawURLEncoding.EncodeToString([]byte(token))
}

// A browser cannot give a WebSocket headers: the token comes as a
// subprotocol, the server answers with the plain protocol, and the token
// is never logged.
func TestWebSocketTakesTheTokenAsASubprotocol(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	cfg := apptest.Config(t)
	in, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(context.Background()) })
	apptest.Describe(t, in)
	token := apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword)

	c := dialWS(t, wsURL(in, "events=TaskCreated"), &websocket.DialOptions{Subprotocols: []string{handlers.WSProtocol, bearerProtocol(token)}})
	if c.Subprotocol() != handlers.WSProtocol {
		t.Fatalf("the server chose %q, want %q (never the token)", c.Subprotocol(), handlers.WSProtocol)
	}
	id := submitTask(t, apptest.NewClient(in.OrchestratorURL()).WithToken(token), "/workflows/servers/create", map[string]any{"infra": "ws"})
	if f := readFrame(t, c); f.EventType != "TaskCreated" || f.Metadata["task_id"] != id {
		t.Fatalf("frame %+v", f)
	}
	// ?token= still works.
	query := dialWS(t, wsURL(in, "token="+token), nil)
	for name, protocols := range map[string][]string{
		"not base64url": {handlers.WSProtocol, handlers.WSBearerProtocol + "a.b=c"},
		"a wrong token": {handlers.WSProtocol, bearerProtocol(token + "x")},
		"an empty one":  {handlers.WSProtocol, handlers.WSBearerProtocol},
	} {
		_, res, err := websocket.Dial(context.Background(), wsURL(in, ""), &websocket.DialOptions{Subprotocols: protocols})
		if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: err %v, answer %v; want 401 with a challenge before the upgrade", name, err, res)
		}
	}
	// The dashboard's page (the control center's port on this host) may
	// open the socket; a page of another port may not.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(in.ControlURL(), "http://"))
	dash := http.Header{"Origin": {"http://127.0.0.1:" + port}}
	fromDash := dialWS(t, wsURL(in, ""), &websocket.DialOptions{HTTPHeader: dash, Subprotocols: []string{handlers.WSProtocol, bearerProtocol(token)}})
	other := http.Header{"Origin": {"http://127.0.0.1:1"}}
	if _, res, err := websocket.Dial(context.Background(), wsURL(in, ""), &websocket.DialOptions{HTTPHeader: other, Subprotocols: []string{handlers.WSProtocol, bearerProtocol(token)}}); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("another origin: err %v, answer %v; want 403", err, res)
	}
	// A connection is logged when it ends: end them all, then read every
	// /ws line (3 connections, 4 refusals).
	for _, conn := range []*websocket.Conn{c, query, fromDash} {
		conn.Close(websocket.StatusNormalClosure, "")
	}
	eventstest.Eventually(t, 10*time.Second, func() bool { return strings.Count(logs.String(), "path=/ws ") >= 7 },
		"the access log has not logged every /ws request:\n%s", logs.String())
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), bearerProtocol(token)) {
		t.Fatal("the token is in the logs")
	}
	if !strings.Contains(logs.String(), "token=REDACTED") {
		t.Fatal("the ?token= connection's line is not redacted: the check above proves nothing")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
