package projections

import (
	"cmp"
	"slices"

	"provisioning/events"
	"provisioning/workflow"
)

// What a restore does to the tasks and the batches, given the views as
// they were at the checkpoint ("then") and as they are just before the
// restore ("now"):
//
//   - A batch, or a task of no batch, that had finished by the checkpoint
//     is shown as it was then.
//   - One that was still running at the checkpoint is shown as it is now:
//     it went on after the checkpoint and nothing can take that back
//     (showing it running, when nothing runs it any more, would be false).
//     The tasks of a batch that was running at the checkpoint go with
//     their batch: as they are now, those created after the checkpoint
//     included.
//   - Anything created after the checkpoint leaves the views, unless it
//     is still running now: work in flight is never hidden, its next
//     events need it. (The API refuses a restore while work runs, so this
//     only happens to work submitted in the instant between that check
//     and the restore.)
//
// Nothing is deleted from the stream: the events of what left the views
// stay in the history (GET /events), and a replay of the stream reaches
// the same views.

// Rewind implements Rewinder (see above).
func (v *Batches) Rewind(at map[string][]byte) error {
	then, err := decodeBatches(at[v.Name()])
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	seen := make(map[string]bool, len(then))
	var out []*workflow.Batch
	for _, b := range then {
		seen[b.ID] = true
		if now := v.byID[b.ID]; now != nil && !b.Terminal() {
			b = now
		}
		out = append(out, b)
	}
	for _, b := range v.order {
		if !seen[b.ID] && !b.Terminal() {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b *workflow.Batch) int { return cmp.Compare(a.CreatedSeq, b.CreatedSeq) })
	v.setAll(out)
	return nil
}

// setAll replaces the view's batches, rebuilds their derived state and
// recomputes what the view derives from them. The caller holds the lock.
func (v *Batches) setAll(batches []*workflow.Batch) {
	v.byID = make(map[string]*workflow.Batch, len(batches))
	v.taskBatch = map[string]*workflow.Batch{}
	v.byStatus = map[string]int{}
	v.order = batches
	v.runs = Durations{}
	for _, b := range batches {
		b.Rebuild()
		v.byID[b.ID] = b
		v.byStatus[b.Status]++
		if b.FinishedAt != nil {
			v.runs.Count++
			v.runs.Total += b.FinishedAt.Sub(b.CreatedAt)
		}
		if !b.Terminal() {
			for _, id := range b.TaskIDs() {
				v.taskBatch[id] = b
			}
		}
	}
}

// Rewind implements Rewinder (see above).
func (t *Tasks) Rewind(at map[string][]byte) error {
	then, err := decodeTasks(at[t.Name()])
	if err != nil {
		return err
	}
	batchesThen, err := decodeBatches(at["batches"])
	if err != nil {
		return err
	}
	runningThen := map[string]bool{}
	for _, b := range batchesThen {
		if !b.Terminal() {
			runningThen[b.ID] = true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := make(map[string]bool, len(then))
	var out []*workflow.Task
	for _, task := range then {
		seen[task.ID] = true
		now := t.byID[task.ID]
		if now != nil && (!task.Terminal() || runningThen[task.BatchID]) {
			task = now
		}
		out = append(out, task)
	}
	for _, task := range t.order {
		if !seen[task.ID] && (!task.Terminal() || runningThen[task.BatchID]) {
			out = append(out, task)
		}
	}
	slices.SortFunc(out, func(a, b *workflow.Task) int { return cmp.Compare(a.CreatedSeq, b.CreatedSeq) })
	t.setAll(out)
	return nil
}

// setAll replaces the view's tasks and recomputes what is derived from
// them. The caller holds the lock.
func (t *Tasks) setAll(tasks []*workflow.Task) {
	t.byID = make(map[string]*workflow.Task, len(tasks))
	t.byStatus = map[string]int{}
	t.runs = map[string]*Durations{}
	t.order = tasks
	for _, task := range tasks {
		t.byID[task.ID] = task
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
}

// decodeTasks reads a tasks snapshot (empty data: no tasks).
func decodeTasks(data []byte) ([]*workflow.Task, error) {
	if len(data) == 0 {
		return nil, nil
	}
	s, err := decodeTasksSnapshot(data)
	return s.Tasks, err
}

// decodeTasksSnapshot decodes and checks a tasks snapshot (empty data is
// an error) and normalizes its tasks.
func decodeTasksSnapshot(data []byte) (tasksSnapshot, error) {
	var s tasksSnapshot
	if err := decodeSnapshot("tasks", data, &s, &s.Version, tasksSnapshotVersion); err != nil {
		return tasksSnapshot{}, err
	}
	for _, task := range s.Tasks {
		normalizeTask(task)
	}
	return s, nil
}

// normalizeTask undoes what gob loses: it does not tell an empty slice
// from a missing one, and the view shows [] for both.
func normalizeTask(task *workflow.Task) {
	if task.Args == nil {
		task.Args = []string{}
	}
	if task.Dependencies == nil {
		task.Dependencies = []string{}
	}
}

// decodeBatches reads a batches snapshot (empty data: no batches).
func decodeBatches(data []byte) ([]*workflow.Batch, error) {
	if len(data) == 0 {
		return nil, nil
	}
	s, err := decodeBatchesSnapshot(data)
	return s.Batches, err
}

// decodeBatchesSnapshot decodes and checks a batches snapshot (empty data
// is an error).
func decodeBatchesSnapshot(data []byte) (batchesSnapshot, error) {
	var s batchesSnapshot
	if err := decodeSnapshot("batches", data, &s, &s.Version, batchesSnapshotVersion); err != nil {
		return batchesSnapshot{}, err
	}
	return s, nil
}
