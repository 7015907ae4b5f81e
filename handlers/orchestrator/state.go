package orchestrator

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/handlers"
	"provisioning/monitor"
	"provisioning/projections"
	"provisioning/workflow"
)

// HealthCheck checks one component for GET /state/system/health:
// "Healthy", "Degraded" or "Unhealthy", with a detail when not healthy.
type HealthCheck func(ctx context.Context) (status, detail string)

// LoadSource reports the host's and the process's load; *monitor.Sampler
// satisfies it.
type LoadSource interface {
	Latest() (monitor.Sample, error)
}

// Health statuses.
const (
	Healthy   = "Healthy"
	Degraded  = "Degraded"
	Unhealthy = "Unhealthy"
)

// workflowProgress answers for a task id or a batch id.
func (o *API) workflowProgress(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	now := time.Now()
	if t, ok := o.Tasks.Get(id); ok {
		return handlers.WriteJSON(w, http.StatusOK, projections.TaskProgress(t, o.Tasks.Runs(), now))
	}
	if p, ok := o.Batches.Progress(id, o.Tasks.Runs(), now); ok {
		return handlers.WriteJSON(w, http.StatusOK, p)
	}
	if o.Recovery != nil {
		if p, ok := o.Recovery.Rollbacks.RollbackProgress(id, o.Tasks.Runs(), now); ok {
			return handlers.WriteJSON(w, http.StatusOK, p)
		}
	}
	return handlers.Errorf(http.StatusNotFound, "workflow %s not found (neither a task, a batch nor a rollback)", id)
}

// workflowSnapshots lists a task's or a batch's snapshots, one per status
// change, oldest first, paginated.
func (o *API) workflowSnapshots(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	var snaps []workflow.Snapshot
	if t, ok := o.Tasks.Get(id); ok {
		snaps = t.Snapshots
	} else if s, ok := o.Batches.Snapshots(id); ok {
		snaps = s
	} else if s, ok := o.rollbackSnapshots(id); ok {
		snaps = s
	} else {
		return handlers.Errorf(http.StatusNotFound, "workflow %s not found (neither a task, a batch nor a rollback)", id)
	}
	from, to := p.Window(len(snaps))
	return handlers.WritePage(w, r, p, len(snaps), snaps[from:to])
}

// SystemLoad is the load part of GET /state/system/metrics; figures that
// could not be read are null.
type SystemLoad struct {
	CPUUsage    *float64 `json:"cpu_usage"`
	MemoryUsage *float64 `json:"memory_usage"`
	MemoryTotal *float64 `json:"memory_total,omitempty"`
	DiskUsage   *float64 `json:"disk_usage"`
}

type SystemMetrics struct {
	TotalWorkflows     int        `json:"total_workflows"`
	ActiveWorkflows    int        `json:"active_workflows"`
	CompletedWorkflows int        `json:"completed_workflows"`
	FailedWorkflows    int        `json:"failed_workflows"`
	CancelledWorkflows int        `json:"cancelled_workflows"`
	TotalBatches       int        `json:"total_batches"`
	ActiveBatches      int        `json:"active_batches"`
	SystemLoad         SystemLoad `json:"system_load"`
	ProcessLoad        SystemLoad `json:"process_load"`
	SampledAt          *time.Time `json:"sampled_at"`
}

// systemMetrics: workflows are tasks (a batch's tasks included), counted
// by the task view; the load is this host's (CPU %, memory in use in MB,
// the data directory's disk %) and this process's (CPU % of one core,
// resident MB), sampled by the monitor.
func (o *API) systemMetrics(w http.ResponseWriter, r *http.Request) error {
	counts := o.Tasks.Counts()
	m := SystemMetrics{
		ActiveWorkflows:    counts[events.StatusPending] + counts[events.StatusRunning],
		CompletedWorkflows: counts[events.StatusCompleted],
		FailedWorkflows:    counts[events.StatusFailed],
		CancelledWorkflows: counts[events.StatusCancelled],
	}
	for _, n := range counts {
		m.TotalWorkflows += n
	}
	for status, n := range o.Batches.Counts() {
		m.TotalBatches += n
		if status == events.StatusRunning {
			m.ActiveBatches += n
		}
	}
	if o.Load != nil {
		if s, err := o.Load.Latest(); err == nil {
			m.SystemLoad = SystemLoad{CPUUsage: &s.HostCPU, MemoryUsage: &s.HostMemoryMB, MemoryTotal: &s.HostTotalMB, DiskUsage: &s.DiskUsage}
			m.ProcessLoad = SystemLoad{CPUUsage: &s.ProcessCPU, MemoryUsage: &s.ProcessMemory}
			m.SampledAt = &s.At
		}
	}
	return handlers.WriteJSON(w, http.StatusOK, m)
}

type HealthReport struct {
	OverallStatus string            `json:"overall_status"`
	Components    map[string]string `json:"components"`
	Details       map[string]string `json:"details,omitempty"`
	LastCheck     time.Time         `json:"last_check"`
}

// HealthEnvelope carries the report on a 503 too: a failing check is an
// error (success false) whose details a client still wants.
type HealthEnvelope struct {
	Success bool         `json:"success"`
	Error   string       `json:"error,omitempty"`
	Data    HealthReport `json:"data"`
}

// systemHealth runs every check (each bounded) and answers 503 when the
// system is Degraded or Unhealthy.
func (o *API) systemHealth(w http.ResponseWriter, r *http.Request) error {
	rep := HealthReport{OverallStatus: Healthy, Components: map[string]string{}, Details: map[string]string{}, LastCheck: time.Now().UTC()}
	names := make([]string, 0, len(o.Health))
	for name := range o.Health {
		names = append(names, name)
	}
	sort.Strings(names)
	var problems []string
	for _, name := range names {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		status, detail := o.Health[name](ctx)
		cancel()
		rep.Components[name] = status
		if detail != "" {
			rep.Details[name] = detail
		}
		switch {
		case status == Unhealthy:
			rep.OverallStatus = Unhealthy
		case status != Healthy && rep.OverallStatus == Healthy:
			rep.OverallStatus = Degraded
		}
		if status != Healthy {
			problems = append(problems, fmt.Sprintf("%s is %s", name, status))
		}
	}
	if rep.OverallStatus == Healthy {
		return handlers.WriteBody(w, http.StatusOK, HealthEnvelope{Success: true, Data: rep})
	}
	return handlers.WriteBody(w, http.StatusServiceUnavailable, HealthEnvelope{Error: "system is " + rep.OverallStatus + ": " + strings.Join(problems, ", "), Data: rep})
}

// StorageCheck is the storage component: JetStream answers and every
// stream of ours exists.
func StorageCheck(store *eventstore.Store) HealthCheck {
	return func(ctx context.Context) (string, string) {
		usage, err := store.Usage(ctx)
		if err != nil {
			return Unhealthy, "JetStream does not answer: " + err.Error()
		}
		have := map[string]bool{}
		for _, u := range usage {
			have[u.Name] = true
		}
		for _, st := range events.Streams {
			if !have[st.Name] {
				return Unhealthy, "stream " + st.Name + " is missing"
			}
		}
		return Healthy, ""
	}
}

type Statistics struct {
	TotalWorkflows          int                      `json:"total_workflows"`
	TotalBatches            int                      `json:"total_batches"`
	ActiveSnapshots         int                      `json:"active_snapshots"`
	StorageUsage            string                   `json:"storage_usage"`
	StorageBytes            uint64                   `json:"storage_bytes"`
	Streams                 []eventstore.StreamUsage `json:"streams"`
	AverageWorkflowDuration float64                  `json:"average_workflow_duration"`
	AverageBatchDuration    float64                  `json:"average_batch_duration"`
}

// statistics: storage from JetStream's own byte counts, durations (in
// seconds) from the tasks and batches that finished, snapshots held by
// the views.
func (o *API) statistics(w http.ResponseWriter, r *http.Request) error {
	usage, err := o.Store.Usage(r.Context())
	if err != nil {
		return err
	}
	st := Statistics{Streams: usage, ActiveSnapshots: o.Tasks.SnapshotCount() + o.Batches.SnapshotCount()}
	for _, u := range usage {
		st.StorageBytes += u.Bytes
	}
	st.StorageUsage = sizeText(int64(st.StorageBytes))
	for _, n := range o.Tasks.Counts() {
		st.TotalWorkflows += n
	}
	for _, n := range o.Batches.Counts() {
		st.TotalBatches += n
	}
	var all projections.Durations
	for _, d := range o.Tasks.Runs() {
		all.Count += d.Count
		all.Total += d.Total
	}
	st.AverageWorkflowDuration = roundSeconds(all.Mean())
	st.AverageBatchDuration = roundSeconds(o.Batches.Runs().Mean())
	return handlers.WriteJSON(w, http.StatusOK, st)
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond).Milliseconds()) / 1000
}
