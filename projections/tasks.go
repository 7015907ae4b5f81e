package projections

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"provisioning/events"
	"provisioning/workflow"
)

// Tasks is the task view: every task folded from its events, in creation
// order, with counts by status and observed durations by workflow. It is
// safe for concurrent readers; only its runner applies events.
type Tasks struct {
	mu       sync.RWMutex
	byID     map[string]*workflow.Task
	order    []*workflow.Task // by creation sequence
	byStatus map[string]int
	runs     map[string]*Durations // finished runs by workflow kind
}

// Durations accumulates observed run times.
type Durations struct {
	Count int
	Total time.Duration
}

// Mean is the average duration, zero when nothing was observed.
func (d Durations) Mean() time.Duration {
	if d.Count == 0 {
		return 0
	}
	return d.Total / time.Duration(d.Count)
}

// NewTasks returns an empty task view.
func NewTasks() *Tasks {
	t := &Tasks{}
	t.Reset()
	return t
}

// Name implements Projection.
func (t *Tasks) Name() string { return "tasks" }

// Reset implements Projection.
func (t *Tasks) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID = map[string]*workflow.Task{}
	t.order = nil
	t.byStatus = map[string]int{}
	t.runs = map[string]*Durations{}
}

// Apply implements Projection.
func (t *Tasks) Apply(env events.Envelope) error {
	if env.Aggregate != events.AggTask {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if env.Type == events.TaskCreated {
		if _, dup := t.byID[env.AggregateID]; dup {
			return fmt.Errorf("task %s created twice (seq %d)", env.AggregateID, env.Seq)
		}
		var d events.TaskCreatedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		task := workflow.NewTask(env, d)
		t.byID[task.ID] = task
		t.order = append(t.order, task)
		t.byStatus[task.Status]++
		return nil
	}
	task, ok := t.byID[env.AggregateID]
	if !ok {
		return fmt.Errorf("%s for unknown task %s (seq %d)", env.Type, env.AggregateID, env.Seq)
	}
	before := task.Status
	if err := task.Apply(env); err != nil {
		return err
	}
	if task.Status != before {
		t.byStatus[before]--
		t.byStatus[task.Status]++
		if task.Status == events.StatusCompleted {
			d := t.runs[task.Workflow]
			if d == nil {
				d = &Durations{}
				t.runs[task.Workflow] = d
			}
			d.Count++
			d.Total += task.Duration()
		}
	}
	return nil
}

// Get returns a copy of one task.
func (t *Tasks) Get(id string) (workflow.Task, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	task, ok := t.byID[id]
	if !ok {
		return workflow.Task{}, false
	}
	return copyTask(task), true
}

// taskOutcome is what a batch's detail shows of one of its tasks.
type taskOutcome struct {
	Name   string
	Output *string
	Error  *string
}

// outcomes returns the name, output and error of each known task of ids,
// under one read lock and without copying the tasks' snapshots.
func (t *Tasks) outcomes(ids []string) map[string]taskOutcome {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[string]taskOutcome, len(ids))
	for _, id := range ids {
		if task := t.byID[id]; task != nil {
			out[id] = taskOutcome{Name: task.Name, Output: task.Output, Error: task.Error}
		}
	}
	return out
}

func copyTask(task *workflow.Task) workflow.Task {
	c := *task
	c.Snapshots = slices.Clone(task.Snapshots)
	return c
}

// TaskFilter narrows List.
type TaskFilter struct {
	Status  string
	BatchID string
}

func (f TaskFilter) match(t *workflow.Task) bool {
	return (f.Status == "" || t.Status == f.Status) && (f.BatchID == "" || t.BatchID == f.BatchID)
}

// List returns one page of tasks, newest first, and how many match in all.
func (t *Tasks) List(f TaskFilter, offset, limit int) ([]workflow.Task, int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	total := len(t.order)
	if f.Status != "" {
		total = t.byStatus[f.Status]
	}
	if f.BatchID != "" {
		total = -1
	}
	page := make([]workflow.Task, 0, min(limit, len(t.order)))
	matched := 0
	for i := len(t.order) - 1; i >= 0; i-- {
		task := t.order[i]
		if !f.match(task) {
			continue
		}
		if matched >= offset && len(page) < limit {
			page = append(page, copyTask(task))
		}
		matched++
		if total >= 0 && len(page) == limit {
			break
		}
	}
	if total < 0 {
		total = matched
	}
	return page, total
}

// Counts returns the number of tasks by status.
func (t *Tasks) Counts() map[string]int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[string]int, len(t.byStatus))
	for k, v := range t.byStatus {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// Runs returns the observed durations of completed tasks by workflow kind.
func (t *Tasks) Runs() map[string]Durations {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[string]Durations, len(t.runs))
	for k, v := range t.runs {
		out[k] = *v
	}
	return out
}

// tasksSnapshot is the encoded form of the view. Bump tasksSnapshotVersion
// when workflow.Task changes shape: an old snapshot is then rebuilt.
type tasksSnapshot struct {
	Version int
	Tasks   []*workflow.Task
	Runs    map[string]*Durations
}

const tasksSnapshotVersion = 1

// Snapshot implements Projection.
func (t *Tasks) Snapshot() ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return encodeSnapshot(tasksSnapshot{Version: tasksSnapshotVersion, Tasks: t.order, Runs: t.runs})
}

// Restore implements Projection: the tasks are decoded, the indexes
// rebuilt, and the durations taken as the snapshot recorded them.
func (t *Tasks) Restore(data []byte) error {
	s, err := decodeTasksSnapshot(data)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setAll(s.Tasks)
	t.runs = s.Runs
	if t.runs == nil {
		t.runs = map[string]*Durations{}
	}
	return nil
}
