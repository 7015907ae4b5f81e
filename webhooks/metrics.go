package webhooks

import (
	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
)

// metrics of deliveries; no label carries an endpoint's URL or id.
type metrics struct {
	dispatched prometheus.Counter
	attempts   *prometheus.CounterVec
	latency    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		dispatched: prometheus.NewCounter(prometheus.CounterOpts{Name: "webhook_jobs_queued_total", Help: "Webhook deliveries queued."}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome (delivered, retrying, failed)."}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "webhook_attempt_duration_seconds",
			Help: "Duration of webhook delivery attempts.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	// Every outcome is a series from the start: a rate or an alert on
	// failures works before the first one happened.
	for _, o := range []string{events.DeliveryDelivered, events.DeliveryRetrying, events.DeliveryFailed} {
		m.attempts.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.dispatched, m.attempts, m.latency)
	}
	return m
}
