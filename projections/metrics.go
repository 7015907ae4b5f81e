package projections

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// ViewCollector reports what the views hold at scrape time: tasks,
// batches and operations by status. Every instance folds the same streams,
// so every instance reports the same figures (do not sum them).
type ViewCollector struct {
	Tasks   *Tasks
	Batches *Batches
}

var (
	tasksDesc = prometheus.NewDesc("orchestrator_tasks", "Tasks in the view, by status.", []string{"status"}, nil)
	batchDesc = prometheus.NewDesc("orchestrator_batches", "Batches in the view, by status.", []string{"status"}, nil)
	opsDesc   = prometheus.NewDesc("orchestrator_operations", "Batch operations in the view, by status.", []string{"status"}, nil)
)

// Describe implements prometheus.Collector.
func (c ViewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- batchDesc
	ch <- opsDesc
}

// Collect implements prometheus.Collector.
func (c ViewCollector) Collect(ch chan<- prometheus.Metric) {
	emit := func(d *prometheus.Desc, counts map[string]int) {
		for status, n := range counts {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), strings.ToLower(status))
		}
	}
	if c.Tasks != nil {
		emit(tasksDesc, c.Tasks.Counts())
	}
	if c.Batches != nil {
		emit(batchDesc, c.Batches.Counts())
		emit(opsDesc, c.Batches.OperationCounts())
	}
}
