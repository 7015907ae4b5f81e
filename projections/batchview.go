package projections

import (
	"strings"
	"time"

	"provisioning/events"
	"provisioning/workflow"
)

// BatchView is a batch as the API shows it. Operations carry Results only
// in the detail (Get), not in lists.
type BatchView struct {
	BatchID         string          `json:"batch_id"`
	Name            string          `json:"name"`
	Version         string          `json:"version,omitempty"`
	Status          string          `json:"status"`
	Progress        float64         `json:"progress"`
	StorageBackend  string          `json:"storage_backend"`
	ParallelLimit   int             `json:"parallel_limit"`
	RollbackEnabled bool            `json:"rollback_enabled"`
	CancelRequested bool            `json:"cancel_requested"`
	CreatedAt       time.Time       `json:"created_at"`
	CompletedAt     *time.Time      `json:"completed_at"`
	Error           *string         `json:"error"`
	TotalTasks      int             `json:"total_tasks"`
	CompletedTasks  int             `json:"completed_tasks"`
	RunningTasks    int             `json:"running_tasks"`
	Operations      []OperationView `json:"operations"`
}

// OperationView is one operation: its status as last recorded by an
// OperationStatusChanged (Pending until the first), its live progress,
// and in the detail its tasks' results.
type OperationView struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Status       string            `json:"status"`
	Progress     float64           `json:"progress"`
	Dependencies []string          `json:"dependencies"`
	Results      *OperationResults `json:"results,omitempty"`
}

// OperationResults are the tasks of an operation and, after a rollback,
// their compensations.
type OperationResults struct {
	Tasks         []TaskResult `json:"tasks"`
	Compensations []TaskResult `json:"compensations,omitempty"`
}

// TaskResult is one task of an operation; Output and Error come from the
// task view.
type TaskResult struct {
	// TaskID is null for a task that was never scheduled.
	TaskID      *string    `json:"task_id"`
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	Progress    float64    `json:"progress"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
	Output      *string    `json:"output"`
	Error       *string    `json:"error"`
}

// Get returns one batch with its operations' results; tasks (may be nil)
// supplies the tasks' output and errors.
func (v *Batches) Get(id string, tasks *Tasks) (BatchView, bool) {
	v.mu.RLock()
	b := v.byID[id]
	if b == nil {
		v.mu.RUnlock()
		return BatchView{}, false
	}
	view := batchView(b, true)
	v.mu.RUnlock()
	if tasks != nil {
		fillResults(view.Operations, tasks)
	}
	return view, true
}

// fillResults sets the name, output and error of the operations' tasks
// and compensations from the task view, read at once.
func fillResults(ops []OperationView, tasks *Tasks) {
	var ids []string
	eachResult(ops, func(r *TaskResult) { ids = append(ids, *r.TaskID) })
	outcomes := tasks.outcomes(ids)
	eachResult(ops, func(r *TaskResult) {
		if o, ok := outcomes[*r.TaskID]; ok {
			r.Name, r.Output, r.Error = o.Name, o.Output, o.Error
		}
	})
}

// eachResult calls f for every result of ops that has a task ID.
func eachResult(ops []OperationView, f func(*TaskResult)) {
	for _, op := range ops {
		if op.Results == nil {
			continue
		}
		for _, list := range [][]TaskResult{op.Results.Tasks, op.Results.Compensations} {
			for i := range list {
				if list[i].TaskID != nil {
					f(&list[i])
				}
			}
		}
	}
}

// BatchFilter narrows List.
type BatchFilter struct {
	Status string
}

// List returns one page of batches, newest first, and how many match.
func (v *Batches) List(f BatchFilter, offset, limit int) ([]BatchView, int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	total := len(v.order)
	if f.Status != "" {
		total = v.byStatus[f.Status]
	}
	page := make([]BatchView, 0, min(limit, total))
	matched := 0
	for i := len(v.order) - 1; i >= 0 && len(page) < limit; i-- {
		b := v.order[i]
		if f.Status != "" && b.Status != f.Status {
			continue
		}
		if matched >= offset {
			page = append(page, batchView(b, false))
		}
		matched++
	}
	return page, total
}

func batchView(b *workflow.Batch, detail bool) BatchView {
	total, completed, active := b.Counts()
	view := BatchView{
		BatchID: b.ID, Name: b.Name, Version: b.Version, Status: b.Status, Progress: b.Progress(),
		StorageBackend: b.StorageBackend, ParallelLimit: b.ParallelLimit, RollbackEnabled: b.RollbackEnabled,
		CancelRequested: b.CancelRequested, CreatedAt: b.CreatedAt, CompletedAt: b.FinishedAt,
		TotalTasks: total, CompletedTasks: completed, RunningTasks: active,
		Operations: make([]OperationView, len(b.Operations)),
	}
	if b.Error != "" {
		msg := b.Error
		view.Error = &msg
	}
	for i, op := range b.Operations {
		view.Operations[i] = OperationView{ID: op.Spec.ID, Type: op.Spec.Type, Status: op.Status,
			Progress: op.LiveProgress(), Dependencies: op.Spec.Dependencies}
		if view.Operations[i].Dependencies == nil {
			// gob restores an empty list as nil; the API shows [].
			view.Operations[i].Dependencies = []string{}
		}
		if detail {
			view.Operations[i].Results = &OperationResults{Tasks: taskResults(b, op.Tasks)}
		}
	}
	if detail {
		for _, c := range b.Compensations {
			r := view.Operations[c.Op].Results
			r.Compensations = append(r.Compensations, taskResults(b, []*workflow.BatchTask{c})...)
		}
	}
	return view
}

func taskResults(b *workflow.Batch, ts []*workflow.BatchTask) []TaskResult {
	out := make([]TaskResult, 0, len(ts))
	for _, t := range ts {
		spec := workflow.TaskSpecAt(b.Operations[t.Op].Spec, t.Index)
		r := TaskResult{Name: workflow.Name(spec), Status: t.Status, Progress: t.Progress,
			StartedAt: timePtr(t.StartedAt), CompletedAt: timePtr(t.FinishedAt)}
		if t.ID != "" {
			id := t.ID
			r.TaskID = &id
		}
		switch {
		case t.Compensates != "":
			r.Name = "rollback_" + workflow.Name(workflow.Undo(spec))
		case r.Status == "" && b.Terminal():
			r.Status = events.StatusSkipped
		case r.Status == "":
			r.Status = events.StatusPending
		}
		out = append(out, r)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Snapshots returns the batch's snapshots, one per status change, oldest
// first, as the API shows them.
func (v *Batches) Snapshots(id string) ([]workflow.Snapshot, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := v.byID[id]
	if b == nil {
		return nil, false
	}
	out := make([]workflow.Snapshot, len(b.Snapshots))
	for i, s := range b.Snapshots {
		details := map[string]any{
			"status": s.Status, "progress": s.Progress, "completed_tasks": s.CompletedTasks,
			"running_tasks": s.RunningTasks, "total_tasks": s.TotalTasks,
		}
		if s.Operation != "" {
			details["operation"], details["operation_status"] = s.Operation, s.OperationStatus
		}
		if s.CancelRequested {
			details["cancel_requested"] = true
		}
		out[i] = workflow.Snapshot{SnapshotID: s.ID, Timestamp: s.Time, State: strings.ToLower(s.Status), Details: details, Seq: s.Seq}
	}
	return out, true
}
