package executors

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
