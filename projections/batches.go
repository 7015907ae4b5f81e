package projections

import (
	"fmt"
	"sync"

	"provisioning/events"
	"provisioning/workflow"
)

// Batches is the batch view: every batch folded by workflow.Batch from its
// own events and the events of its tasks. Besides the API's reads it
// serves the batch coordinator: what a batch event or a task event
// touched, and the next decision of a batch. It is safe for concurrent
// readers; only its runner applies events.
type Batches struct {
	mu        sync.RWMutex
	byID      map[string]*workflow.Batch
	order     []*workflow.Batch // by creation
	taskBatch map[string]*workflow.Batch
	byStatus  map[string]int
	runs      Durations // batches that finished
}

// NewBatches returns an empty batch view.
func NewBatches() *Batches {
	b := &Batches{}
	b.Reset()
	return b
}

// Name implements Projection.
func (v *Batches) Name() string { return "batches" }

// Reset implements Projection.
func (v *Batches) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.byID = map[string]*workflow.Batch{}
	v.order = nil
	v.taskBatch = map[string]*workflow.Batch{}
	v.byStatus = map[string]int{}
	v.runs = Durations{}
}

// Apply implements Projection.
func (v *Batches) Apply(env events.Envelope) error {
	switch env.Aggregate {
	case events.AggBatch:
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.applyBatch(env)
	case events.AggTask:
		v.mu.Lock()
		defer v.mu.Unlock()
		if b := v.taskBatch[env.AggregateID]; b != nil {
			return b.ApplyTask(env)
		}
	}
	return nil
}

func (v *Batches) applyBatch(env events.Envelope) error {
	if env.Type == events.BatchCreated {
		if _, dup := v.byID[env.AggregateID]; dup {
			return fmt.Errorf("batch %s created twice (seq %d)", env.AggregateID, env.Seq)
		}
		var d events.BatchCreatedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		b := workflow.NewBatch(env, d)
		v.byID[b.ID] = b
		v.order = append(v.order, b)
		v.byStatus[b.Status]++
		return nil
	}
	b, ok := v.byID[env.AggregateID]
	if !ok {
		return fmt.Errorf("%s for unknown batch %s (seq %d)", env.Type, env.AggregateID, env.Seq)
	}
	before := b.Status
	var err error
	if env.Type == events.BatchTasksScheduled {
		var d events.BatchTasksScheduledData
		d, err = b.ApplyScheduled(env)
		for _, t := range d.Tasks {
			if b.Task(t.TaskID) != nil {
				v.taskBatch[t.TaskID] = b
			}
		}
	} else {
		err = b.Apply(env)
	}
	if b.Status != before {
		v.byStatus[before]--
		v.byStatus[b.Status]++
		if b.FinishedAt != nil {
			v.runs.Count++
			v.runs.Total += b.FinishedAt.Sub(b.CreatedAt)
		}
		// A finished batch takes no more task events: its tasks are all
		// finished too.
		for _, id := range b.TaskIDs() {
			delete(v.taskBatch, id)
		}
	}
	return err
}

// BatchOf reports the batch an applied event is about: its own events and
// its tasks' events; "" for anything else. It is the coordinator's way to
// know which batches to decide again.
func (v *Batches) BatchOf(env events.Envelope) string {
	switch env.Aggregate {
	case events.AggBatch:
		return env.AggregateID
	case events.AggTask:
		v.mu.RLock()
		defer v.mu.RUnlock()
		if b := v.taskBatch[env.AggregateID]; b != nil {
			return b.ID
		}
	}
	return ""
}

// Decide returns the next decision of batch id from the view's state and
// the batch sequence it was made at (the version its events must
// expect). ok is false for an unknown batch.
func (v *Batches) Decide(id string) (d workflow.Decision, seq uint64, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := v.byID[id]
	if b == nil {
		return d, 0, false
	}
	return b.Next(), b.Seq, true
}

// Active lists the batches that have not finished.
func (v *Batches) Active() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []string
	for _, b := range v.order {
		if !b.Terminal() {
			out = append(out, b.ID)
		}
	}
	return out
}

// Counts returns the number of batches by status.
func (v *Batches) Counts() map[string]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string]int, len(v.byStatus))
	for k, n := range v.byStatus {
		if n > 0 {
			out[k] = n
		}
	}
	return out
}

// Runs returns the observed durations of finished batches.
func (v *Batches) Runs() Durations {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.runs
}

// SnapshotCount is how many workflow snapshots the batches hold.
func (v *Batches) SnapshotCount() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	n := 0
	for _, b := range v.order {
		n += len(b.Snapshots)
	}
	return n
}

// batchesSnapshot is the encoded form of the view: the batches' facts.
// Bump batchesSnapshotVersion when workflow.Batch changes shape.
type batchesSnapshot struct {
	Version int
	Batches []*workflow.Batch
	Runs    Durations
}

const batchesSnapshotVersion = 1

// Snapshot implements Projection.
func (v *Batches) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return encodeSnapshot(batchesSnapshot{Version: batchesSnapshotVersion, Batches: v.order, Runs: v.runs})
}

// Restore implements Projection: the facts are decoded, the indexes
// rebuilt, and the durations taken as the snapshot recorded them.
func (v *Batches) Restore(data []byte) error {
	s, err := decodeBatchesSnapshot(data)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.setAll(s.Batches)
	v.runs = s.Runs
	return nil
}

// Status returns a batch's status and whether its cancellation was
// requested, cheaply (for waits that check after every event).
func (v *Batches) Status(id string) (status string, cancelRequested, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := v.byID[id]
	if b == nil {
		return "", false, false
	}
	return b.Status, b.CancelRequested, true
}

// OperationCounts returns the number of operations of all batches by
// status.
func (v *Batches) OperationCounts() map[string]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[string]int{}
	for _, b := range v.order {
		for _, op := range b.Operations {
			out[op.Status]++
		}
	}
	return out
}
