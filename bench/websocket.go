package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"provisioning/handlers/orchestrator"
	"provisioning/hub"
)

// WebSocketFanoutConfig sizes a WebSocket fan-out run.
type WebSocketFanoutConfig struct {
	Clients int // connected /ws clients (default 1000)
	Events  int // events appended (default 2000)
	// Rate paces appends in events/s; 0 appends as fast as the store
	// takes them.
	Rate int
	// Queue is each client's queue in the hub (default 1024).
	Queue int
}

// WebSocketFanoutResult is what one run measured. Latency is from the
// event's append (its timestamp) to its receipt by a client.
type WebSocketFanoutResult struct {
	Clients, Events int
	Elapsed         time.Duration // first append to the last client's last frame
	EventsPerSec    float64       // events every client received, per second
	FramesPerSec    float64       // frames delivered in all, per second
	P50, P99        time.Duration
}

func (r WebSocketFanoutResult) String() string {
	return fmt.Sprintf("websocket fan-out: %d events to %d clients in %s: %.0f events/s, %.0f frames/s, latency p50 %s p99 %s",
		r.Events, r.Clients, r.Elapsed.Round(time.Millisecond), r.EventsPerSec, r.FramesPerSec, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
}

// WebSocketFanout serves /ws on loopback from an embedded JetStream,
// connects Clients, appends Events and waits until every client has
// received every one of them.
func WebSocketFanout(ctx context.Context, cfg WebSocketFanoutConfig) (WebSocketFanoutResult, error) {
	if cfg.Clients <= 0 {
		cfg.Clients = 1000
	}
	if cfg.Events <= 0 {
		cfg.Events = 2000
	}
	res := WebSocketFanoutResult{Clients: cfg.Clients, Events: cfg.Events}
	store, stop, err := eventsOutStore(ctx)
	if err != nil {
		return res, err
	}
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(store, log, 10_000, nil)
	if cfg.Queue > 0 {
		h.QueueSize = cfg.Queue
	}
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(ctx) }()
	defer func() { cancel(); <-hubDone }()

	// The WebSocket handler alone: a token is checked once per
	// connection, not per event, so the fan-out is measured without it.
	o := &orchestrator.API{Store: store, Log: log, Registry: prometheus.NewRegistry(), Hub: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", o.WebSocketHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ConnContext: orchestrator.WithConn}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "ws://" + ln.Addr().String() + "/ws"

	clients := make([]*fanoutClient, cfg.Clients)
	for i := range clients {
		c, err := dialFanout(ctx, url, cfg.Events)
		if err != nil {
			return res, fmt.Errorf("client %d: %w", i, err)
		}
		defer c.conn.CloseNow()
		clients[i] = c
	}
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.receive(ctx); err != nil {
				failed.CompareAndSwap(nil, &err)
				cancel()
			}
		}()
	}
	start := time.Now()
	if err := appendProgress(ctx, store, cfg.Events, cfg.Rate); err != nil {
		cancel()
		wg.Wait()
		return res, err
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return res, *p
	}
	res.Elapsed = time.Since(start)
	var all []time.Duration
	for _, c := range clients {
		all = append(all, c.latencies...)
	}
	res.P50, res.P99 = percentiles(all)
	res.EventsPerSec = float64(cfg.Events) / res.Elapsed.Seconds()
	res.FramesPerSec = float64(len(all)) / res.Elapsed.Seconds()
	return res, nil
}

type fanoutClient struct {
	conn      *websocket.Conn
	want      int
	latencies []time.Duration
}

func dialFanout(ctx context.Context, url string, want int) (*fanoutClient, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return &fanoutClient{conn: c, want: want, latencies: make([]time.Duration, 0, want)}, nil
}

var timestampKey = []byte(`"timestamp":"`)

// receive reads want frames, taking each one's latency from its
// timestamp (the append time) without decoding the whole frame.
func (c *fanoutClient) receive(ctx context.Context) error {
	for len(c.latencies) < c.want {
		_, b, err := c.conn.Read(ctx)
		if err != nil {
			return fmt.Errorf("after %d frames: %w", len(c.latencies), err)
		}
		now := time.Now()
		i := bytes.Index(b, timestampKey)
		if i < 0 {
			return errors.New("frame without timestamp")
		}
		rest := b[i+len(timestampKey):]
		end := bytes.IndexByte(rest, '"')
		at, err := time.Parse(time.RFC3339Nano, string(rest[:end]))
		if err != nil {
			return fmt.Errorf("timestamp %s: %w", strconv.Quote(string(rest[:end])), err)
		}
		c.latencies = append(c.latencies, now.Sub(at))
	}
	return nil
}
