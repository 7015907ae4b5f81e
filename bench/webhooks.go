package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"provisioning/events"
	"provisioning/projections"
	"provisioning/secrets"
	"provisioning/webhooks"
)

// WebhookDeliveryConfig sizes a webhook delivery run.
type WebhookDeliveryConfig struct {
	Endpoints int // endpoints subscribed to "*" (default 10)
	Events    int // events appended (default 1000)
	// Concurrency per endpoint (default the service's).
	Concurrency int
}

// WebhookDeliveryResult is what one run measured. Latency is from the
// event's append (its timestamp) to its receipt.
type WebhookDeliveryResult struct {
	Endpoints, Events, Deliveries int
	Elapsed                       time.Duration
	DeliveriesPerSec              float64
	P50, P99                      time.Duration
}

func (r WebhookDeliveryResult) String() string {
	return fmt.Sprintf("webhooks: %d deliveries (%d events x %d endpoints) in %s: %.0f deliveries/s, latency p50 %s p99 %s",
		r.Deliveries, r.Events, r.Endpoints, r.Elapsed.Round(time.Millisecond), r.DeliveriesPerSec, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
}

// WebhookDelivery runs the webhook service on an embedded JetStream with
// Endpoints endpoints on one local receiver, appends Events events and
// waits until every delivery has arrived.
func WebhookDelivery(ctx context.Context, cfg WebhookDeliveryConfig) (WebhookDeliveryResult, error) {
	if cfg.Endpoints <= 0 {
		cfg.Endpoints = 10
	}
	if cfg.Events <= 0 {
		cfg.Events = 1000
	}
	want := cfg.Endpoints * cfg.Events
	res := WebhookDeliveryResult{Endpoints: cfg.Endpoints, Events: cfg.Events}
	store, stop, err := eventsOutStore(ctx)
	if err != nil {
		return res, err
	}
	defer stop()

	var mu sync.Mutex
	latencies := make([]time.Duration, 0, want)
	all := make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Timestamp time.Time `json:"timestamp"`
		}
		err := json.NewDecoder(r.Body).Decode(&body)
		now := time.Now()
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		latencies = append(latencies, now.Sub(body.Timestamp))
		if len(latencies) == want {
			close(all)
		}
		mu.Unlock()
	}))
	defer rc.Close()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := webhooks.NewRegistry()
	view := projections.NewRunner(store, events.EventsStream, nil, log, reg)
	logView := projections.NewRunner(store, events.DeliveriesStream, nil, log, reg.DeliveryLog())
	// The benchmark's endpoints live as long as it does: an in-memory key.
	ring, err := secrets.NewKeyring()
	if err != nil {
		return res, err
	}
	svc, err := webhooks.New(store, ring, reg, webhooks.Views{Events: view, Deliveries: logView}, webhooks.Config{AllowPrivateTargets: true, Concurrency: cfg.Concurrency}, log, nil)
	if err != nil {
		return res, err
	}
	if err := svc.Setup(ctx); err != nil {
		return res, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, run := range []func(context.Context) error{view.Run, logView.Run, svc.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(rctx) }()
	}
	for i := range cfg.Endpoints {
		if _, err := svc.Create(ctx, webhooks.Caller{Actor: "bench"}, webhooks.Request{URL: fmt.Sprintf("%s/hook/%d", rc.URL, i), Events: []string{"*"}}); err != nil {
			return res, err
		}
	}
	if err := view.WaitForLatest(ctx); err != nil {
		return res, err
	}
	start := time.Now()
	if err := appendProgress(ctx, store, cfg.Events, 0); err != nil {
		return res, err
	}
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return res, fmt.Errorf("%d of %d deliveries arrived: %w", len(latencies), want, ctx.Err())
	}
	res.Elapsed = time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	res.Deliveries = len(latencies)
	res.DeliveriesPerSec = float64(res.Deliveries) / res.Elapsed.Seconds()
	res.P50, res.P99 = percentiles(latencies)
	return res, nil
}
