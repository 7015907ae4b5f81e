package bench_test

import (
	"context"
	"testing"
	"time"

	"provisioning/bench"
)

// The smoke tests keep the benchmark code working; the figures come from
// the benchmarks (go test -bench EventsOut ./bench/).

func TestWebSocketFanoutSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.WebSocketFanout(ctx, bench.WebSocketFanoutConfig{Clients: 20, Events: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.EventsPerSec <= 0 {
		t.Fatalf("figures: %+v", res)
	}
	t.Log(res)
}

func TestWebhookDeliverySmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.WebhookDelivery(ctx, bench.WebhookDeliveryConfig{Endpoints: 3, Events: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deliveries != 150 || res.DeliveriesPerSec <= 0 {
		t.Fatalf("figures: %+v", res)
	}
	t.Log(res)
}

// BenchmarkEventsOutWebSocketFanout: b.N events to 1,000 clients.
func BenchmarkEventsOutWebSocketFanout(b *testing.B) {
	res, err := bench.WebSocketFanout(context.Background(), bench.WebSocketFanoutConfig{Clients: 1000, Events: max(b.N, 100)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.EventsPerSec, "events/s")
	b.ReportMetric(res.FramesPerSec, "frames/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
}

// BenchmarkEventsOutWebhooks: b.N events to 10 endpoints.
func BenchmarkEventsOutWebhooks(b *testing.B) {
	res, err := bench.WebhookDelivery(context.Background(), bench.WebhookDeliveryConfig{Endpoints: 10, Events: max(b.N, 100)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.DeliveriesPerSec, "deliveries/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
}

// BenchmarkEventsOutWebSocketFanoutPaced: latency at a steady 100
// events/s (100,000 frames/s) to 1,000 clients, below saturation.
func BenchmarkEventsOutWebSocketFanoutPaced(b *testing.B) {
	res, err := bench.WebSocketFanout(context.Background(), bench.WebSocketFanoutConfig{Clients: 1000, Events: max(b.N, 100), Rate: 100})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.FramesPerSec, "frames/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
}
