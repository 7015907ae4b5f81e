package projections

import (
	"math"
	"time"

	"provisioning/events"
	"provisioning/workflow"
)

// WorkflowProgress is the progress of a task or a batch as GET
// /state/workflows/{id}/progress shows it. EstimatedTimeRemaining is in
// seconds, estimated from the durations actually observed for tasks of
// the same kind (servers, taskserv, cluster); it is null while nothing of
// that kind has completed yet.
type WorkflowProgress struct {
	WorkflowID             string  `json:"workflow_id"`
	Kind                   string  `json:"kind"`
	Status                 string  `json:"status"`
	Progress               float64 `json:"progress"`
	CurrentStep            *string `json:"current_step"`
	TotalSteps             int     `json:"total_steps"`
	CompletedSteps         int     `json:"completed_steps"`
	EstimatedTimeRemaining *int64  `json:"estimated_time_remaining"`
}

// estimator turns observed durations into remaining times.
type estimator struct {
	mean    map[string]time.Duration
	overall time.Duration
	now     time.Time
}

func newEstimator(runs map[string]Durations, now time.Time) estimator {
	e := estimator{mean: map[string]time.Duration{}, now: now}
	var all Durations
	for k, d := range runs {
		if d.Count > 0 {
			e.mean[k] = d.Mean()
			all.Count += d.Count
			all.Total += d.Total
		}
	}
	e.overall = all.Mean()
	return e
}

// remaining estimates what is left of one task of kind; ok is false when
// nothing was observed to estimate from.
func (e estimator) remaining(kind, status string, started time.Time) (time.Duration, bool) {
	if events.Terminal(status) {
		return 0, true
	}
	m, ok := e.mean[kind]
	if !ok {
		m, ok = e.overall, e.overall > 0
	}
	if !ok {
		return 0, false
	}
	if status == events.StatusRunning && !started.IsZero() {
		return max(m-e.now.Sub(started), 0), true
	}
	return m, true
}

func seconds(d time.Duration) *int64 {
	s := int64(math.Ceil(d.Seconds()))
	return &s
}

// TaskProgress is the progress of one task; runs are the observed
// durations by workflow kind (Tasks.Runs).
func TaskProgress(t workflow.Task, runs map[string]Durations, now time.Time) WorkflowProgress {
	p := WorkflowProgress{WorkflowID: t.ID, Kind: "task", Status: t.Status, Progress: t.Progress,
		CurrentStep: t.CurrentStep, TotalSteps: t.TotalSteps, CompletedSteps: t.CompletedSteps}
	var started time.Time
	if t.StartedAt != nil {
		started = *t.StartedAt
	}
	if d, ok := newEstimator(runs, now).remaining(t.Workflow, t.Status, started); ok {
		p.EstimatedTimeRemaining = seconds(d)
	}
	return p
}

// Progress is the progress of batch id: its tasks as steps, the latest
// step of a running task as the current one, and a remaining time that
// is the longer of the critical path through the operations still to
// run and the work left divided by the parallel limit.
func (v *Batches) Progress(id string, runs map[string]Durations, now time.Time) (WorkflowProgress, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := v.byID[id]
	if b == nil {
		return WorkflowProgress{}, false
	}
	total, completed, _ := b.Counts()
	p := WorkflowProgress{WorkflowID: b.ID, Kind: "batch", Status: b.Status, Progress: b.Progress(),
		TotalSteps: total, CompletedSteps: completed, CurrentStep: currentStep(b)}
	if b.Terminal() {
		p.EstimatedTimeRemaining = seconds(0)
		return p, true
	}
	if d, ok := batchRemaining(b, newEstimator(runs, now)); ok {
		p.EstimatedTimeRemaining = seconds(d)
	}
	return p, true
}

// currentStep names what the most recently started running task does.
func currentStep(b *workflow.Batch) *string {
	var latest *workflow.BatchTask
	var opID string
	visit := func(t *workflow.BatchTask, op string) {
		if t.Status == events.StatusRunning && (latest == nil || t.StartedAt.After(latest.StartedAt)) {
			latest, opID = t, op
		}
	}
	for _, op := range b.Operations {
		for _, t := range op.Tasks {
			visit(t, op.Spec.ID)
		}
	}
	for _, c := range b.Compensations {
		visit(c, "rollback of "+b.Operations[c.Op].Spec.ID)
	}
	if latest == nil {
		return nil
	}
	step := latest.Step
	if step == "" {
		step = "started"
	}
	s := opID + ": " + step
	return &s
}

var kindOf = map[string]string{
	events.OpServerBatch: workflow.Servers, events.OpTaskservBatch: workflow.Taskserv, events.OpClusterBatch: workflow.Cluster,
}

func batchRemaining(b *workflow.Batch, e estimator) (time.Duration, bool) {
	limit := time.Duration(max(b.ParallelLimit, 1))
	if b.Stopping() {
		return stoppingRemaining(b, e, limit)
	}
	index := make(map[string]int, len(b.Operations))
	for i, op := range b.Operations {
		index[op.Spec.ID] = i
	}
	own := make([]time.Duration, len(b.Operations))
	var work time.Duration
	for i, op := range b.Operations {
		for _, t := range op.Tasks {
			d, ok := e.remaining(kindOf[op.Spec.Type], t.Status, t.StartedAt)
			if !ok {
				return 0, false
			}
			work += d
			if workflow.Sequential(op.Spec) {
				own[i] += d
			} else {
				own[i] = max(own[i], d)
			}
		}
	}
	finish := make([]time.Duration, len(b.Operations))
	var path time.Duration
	for _, i := range topological(b.Operations, index) {
		var start time.Duration
		for _, d := range b.Operations[i].Spec.Dependencies {
			start = max(start, finish[index[d]])
		}
		finish[i] = start + own[i]
		path = max(path, finish[i])
	}
	return max(path, work/limit), true
}

// stoppingRemaining: a stopping batch waits for its running tasks, then
// (rollback) compensates what completed.
func stoppingRemaining(b *workflow.Batch, e estimator, limit time.Duration) (time.Duration, bool) {
	var inflight, undo time.Duration
	comps := make(map[string]*workflow.BatchTask, len(b.Compensations))
	for _, c := range b.Compensations {
		comps[c.Compensates] = c
	}
	for _, op := range b.Operations {
		kind := kindOf[op.Spec.Type]
		for _, t := range op.Tasks {
			switch {
			case t.Status == events.StatusPending || t.Status == events.StatusRunning:
				d, ok := e.remaining(kind, t.Status, t.StartedAt)
				if !ok {
					return 0, false
				}
				inflight = max(inflight, d)
			case t.Status == events.StatusCompleted && b.RollbackEnabled && !b.CancelRequested:
				c := comps[t.ID]
				status, started := "", time.Time{}
				if c != nil {
					status, started = c.Status, c.StartedAt
				}
				d, ok := e.remaining(kind, status, started)
				if !ok {
					return 0, false
				}
				undo += d
			}
		}
	}
	return inflight + undo/limit, true
}

// topological orders operations so that each comes after its
// dependencies (the batch was validated acyclic).
func topological(ops []*workflow.Operation, index map[string]int) []int {
	remaining := make([]int, len(ops))
	dependents := make([][]int, len(ops))
	var out []int
	for i, op := range ops {
		remaining[i] = len(op.Spec.Dependencies)
		for _, d := range op.Spec.Dependencies {
			dependents[index[d]] = append(dependents[index[d]], i)
		}
		if remaining[i] == 0 {
			out = append(out, i)
		}
	}
	for k := 0; k < len(out); k++ {
		for _, j := range dependents[out[k]] {
			if remaining[j]--; remaining[j] == 0 {
				out = append(out, j)
			}
		}
	}
	return out
}
