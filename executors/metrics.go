package executors

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/eventstore"
)

type metrics struct {
	started      prometheus.Counter
	redeliveries prometheus.Counter
	tasks        *prometheus.CounterVec
	duration     prometheus.Histogram
}

// newMetrics registers the executor's metrics with reg (nil: unregistered).
// Each instance counts the tasks its own executors finished; sum over
// instances for the cluster.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orchestrator_jobs_started_total", Help: "Task attempts started by this instance's executors."}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orchestrator_job_redeliveries_total", Help: "Jobs delivered more than once (an executor died or timed out)."}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orchestrator_tasks_total", Help: "Total number of tasks finished, by final status."}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "orchestrator_task_duration_seconds", Help: "Task execution duration",
			Buckets: []float64{0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}}),
	}
	// Every final status is a series from the start, so that a failure
	// ratio is 0, not absent, before the first task ends.
	for _, s := range []string{events.StatusCompleted, events.StatusFailed, events.StatusCancelled} {
		m.tasks.WithLabelValues(strings.ToLower(s))
	}
	if reg != nil {
		reg.MustRegister(m.started, m.redeliveries, m.tasks, m.duration)
	}
	return m
}

func (m *metrics) finished(status string, d time.Duration) {
	m.tasks.WithLabelValues(strings.ToLower(status)).Inc()
	if d > 0 {
		m.duration.Observe(d.Seconds())
	}
}

// QueueCollector reports the work queue as JetStream sees it at scrape
// time: jobs waiting, jobs held by executors, and jobs redelivered.
type QueueCollector struct {
	Store   *eventstore.Store
	pending *prometheus.Desc
	held    *prometheus.Desc
	redeliv *prometheus.Desc
}

// NewQueueCollector returns a collector of the executors' consumer.
func NewQueueCollector(store *eventstore.Store) *QueueCollector {
	return &QueueCollector{
		Store:   store,
		pending: prometheus.NewDesc("orchestrator_work_queue_pending", "Jobs waiting for an executor.", nil, nil),
		held:    prometheus.NewDesc("orchestrator_work_queue_in_flight", "Jobs held by executors, not yet acknowledged.", nil, nil),
		redeliv: prometheus.NewDesc("orchestrator_work_queue_redelivered", "Jobs currently held that were delivered more than once.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.held
	ch <- c.redeliv
}

// Collect implements prometheus.Collector; a failed lookup reports nothing.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cons, err := c.Store.JetStream().Consumer(ctx, events.EventsStream.Name, ConsumerName)
	if err != nil {
		return
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending))
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(info.NumAckPending))
	ch <- prometheus.MustNewConstMetric(c.redeliv, prometheus.GaugeValue, float64(info.NumRedelivered))
}
