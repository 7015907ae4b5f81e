package workflow

import (
	"fmt"
	"time"

	"provisioning/events"
)

// Batch is the state of one batch, folded from the batch's own events and
// the events of its tasks. Its exported fields are the facts (what the
// events said); its unexported indexes are derived from them, kept up to
// date incrementally by Apply and ApplyTask so that Next costs what changed,
// not what the batch holds, and recomputed whole by Rebuild (after a
// snapshot is restored).
//
// The rules it implements:
//   - An operation's tasks become ready when every operation it depends on
//     has completed all of its tasks; a taskserv_batch's tasks run one
//     after the other, the tasks of the other types in parallel.
//   - At most ParallelLimit tasks of the batch are scheduled and not yet
//     finished at any time (scheduled counts: a scheduled task is about to
//     run).
//   - The first failed task (or a task cancelled other than by cancelling
//     the batch) stops scheduling. Tasks in flight finish. Then, with
//     RollbackEnabled, every completed task is compensated (its spec's
//     delete), in reverse order of completion: compensations start in that
//     order, and one starts only when the compensations of every task that
//     depended on its task have finished. The batch ends RolledBack (Failed
//     when a compensation failed). Without rollback it ends Failed.
//   - A cancel request stops scheduling, has every running task cancelled
//     and ends the batch Cancelled once nothing runs (Completed if
//     everything had completed already).
//
// A Batch is not safe for concurrent use; the view that holds it guards it.
type Batch struct {
	ID              string
	Name            string
	Version         string
	StorageBackend  string
	ParallelLimit   int
	RollbackEnabled bool
	Infra           string
	Settings        string
	// Status is Running from creation until a BatchStatusChanged records
	// the final status.
	Status          string
	Error           string
	CreatedAt       time.Time
	FinishedAt      *time.Time
	CancelRequested bool
	// RollbackStarted is set when the compensation phase began.
	RollbackStarted bool
	Operations      []*Operation
	// Compensations are the compensation tasks, in the order scheduled.
	Compensations []*BatchTask
	// Completions lists the batch's original tasks in order of completion.
	Completions []string
	Snapshots   []BatchSnapshot
	// Seq is the stream sequence of the batch's last own event: the
	// version a decision expects.
	Seq        uint64
	CreatedSeq uint64

	x index
}

// Operation is one operation of a batch: its spec, the status and progress
// last reported for it, and its tasks (one slot per task of its
// expansion; a slot gets an id when the task is scheduled).
type Operation struct {
	Spec     events.BatchOperation
	Status   string
	Progress float64
	Tasks    []*BatchTask

	deps, dependents []int
	remaining        int // dependencies not yet completed
	scheduled        int
	running          int // scheduled and not finished
	done             int // completed
	failed           int // finished in a way that failed the batch
	cancelled        int // cancelled by the batch's cancellation
	compDone         int // compensations of its tasks that completed
	compFailed       int
	progressSum      float64
}

// BatchTask is one task of a batch, original or compensation.
type BatchTask struct {
	ID string
	// Op and Index place the task (a compensation: the task it undoes).
	Op, Index int
	// Compensates is the id of the original task a compensation undoes.
	Compensates string
	// Status is "" until scheduled, then Pending, Running, Completed,
	// Failed or Cancelled.
	Status          string
	Created         bool
	CancelRequested bool
	// Failure is set when the task's end failed the batch (or its
	// rollback).
	Failure     bool
	Attempt     int
	Progress    float64
	Step        string
	Seq         uint64
	ScheduledAt time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	Error       string
}

// BatchSnapshot is the batch as it was at one status change: creation,
// an operation's status change, a cancel request, the final status.
type BatchSnapshot struct {
	ID              string
	Time            time.Time
	Seq             uint64
	Status          string
	Progress        float64
	Operation       string
	OperationStatus string
	CompletedTasks  int
	RunningTasks    int
	TotalTasks      int
	CancelRequested bool
}

// TaskRef places a task: the Index-th task of the Op-th operation.
type TaskRef struct{ Op, Index int }

// index holds what is derived from the facts.
type index struct {
	opIndex     map[string]int
	tasks       map[string]*BatchTask // by id, originals and compensations
	ready       []TaskRef             // FIFO of tasks that may start
	readyHead   int
	active      map[string]*BatchTask // scheduled and not finished
	uncreated   map[string]*BatchTask // scheduled, no TaskCreated seen yet
	toReport    map[int]struct{}      // operations whose reported status is stale
	stopping    bool
	origActive  int
	total       int
	completed   int
	compQueue   []*BatchTask // originals to compensate, reverse completion order
	compNext    int
	compensator map[string]*BatchTask // original id -> its compensation
	blockers    map[*BatchTask]int    // completed dependents not yet compensated
	compFailed  int
	progressSum float64 // of the original tasks
}

// NewBatch starts a batch's state from its BatchCreated event.
func NewBatch(e events.Envelope, d events.BatchCreatedData) *Batch {
	b := &Batch{
		ID: d.BatchID, Name: d.Name, Version: d.Version, StorageBackend: d.StorageBackend,
		ParallelLimit: d.ParallelLimit, RollbackEnabled: d.RollbackEnabled, Infra: d.Infra, Settings: d.Settings,
		Status: events.StatusRunning, CreatedAt: e.Time, Seq: e.Seq, CreatedSeq: e.Seq,
	}
	if b.ParallelLimit < 1 {
		b.ParallelLimit = 1
	}
	b.Operations = make([]*Operation, len(d.Operations))
	for i, spec := range d.Operations {
		op := &Operation{Spec: spec, Status: events.StatusPending, Tasks: make([]*BatchTask, TaskCount(spec))}
		for j := range op.Tasks {
			op.Tasks[j] = &BatchTask{Op: i, Index: j}
		}
		b.Operations[i] = op
	}
	b.Rebuild()
	b.snapshot(e, "", "")
	return b
}

// Terminal reports whether the batch has its final status.
func (b *Batch) Terminal() bool { return b.Status != events.StatusRunning }

// Apply folds one of the batch's own events, except BatchCreated (see
// NewBatch). An event that cannot apply (a stale or malformed decision) is
// reported and changes nothing but Seq.
func (b *Batch) Apply(e events.Envelope) error {
	b.Seq = e.Seq
	switch e.Type {
	case events.BatchTasksScheduled:
		_, err := b.ApplyScheduled(e)
		return err
	case events.OperationStatusChanged:
		var d events.OperationStatusChangedData
		if err := e.Decode(&d); err != nil {
			return err
		}
		i, ok := b.x.opIndex[d.OperationID]
		if !ok {
			return fmt.Errorf("batch %s: status of unknown operation %q", b.ID, d.OperationID)
		}
		op := b.Operations[i]
		op.Status, op.Progress = d.Status, d.Progress
		b.touch(i)
		b.snapshot(e, op.Spec.ID, op.Status)
	case events.BatchStatusChanged:
		var d events.BatchStatusChangedData
		if err := e.Decode(&d); err != nil {
			return err
		}
		if b.Terminal() {
			return fmt.Errorf("batch %s: status %s after final status %s", b.ID, d.Status, b.Status)
		}
		at := e.Time
		b.Status, b.FinishedAt = d.Status, &at
		if d.Error != "" {
			b.Error = d.Error
		}
		b.snapshot(e, "", "")
	case events.BatchCancelRequested:
		if b.Terminal() || b.CancelRequested {
			return nil
		}
		b.CancelRequested = true
		b.stop()
		// A batch already stopping (failed, maybe rolling back) has its
		// operations' statuses change meaning too.
		for i := range b.Operations {
			b.touch(i)
		}
		b.snapshot(e, "", "")
	}
	return nil
}

// ApplyScheduled is Apply for a BatchTasksScheduled event that also
// returns the event's payload (zero when it does not decode), for a
// caller that needs the scheduled tasks without decoding them again.
func (b *Batch) ApplyScheduled(e events.Envelope) (events.BatchTasksScheduledData, error) {
	if e.Type != events.BatchTasksScheduled {
		return events.BatchTasksScheduledData{}, fmt.Errorf("batch %s: ApplyScheduled given a %s event", b.ID, e.Type)
	}
	b.Seq = e.Seq
	var d events.BatchTasksScheduledData
	if err := e.Decode(&d); err != nil {
		return events.BatchTasksScheduledData{}, err
	}
	return d, b.applyScheduled(e, d)
}

func (b *Batch) applyScheduled(e events.Envelope, d events.BatchTasksScheduledData) error {
	if b.Terminal() {
		return fmt.Errorf("batch %s: tasks scheduled after its final status %s", b.ID, b.Status)
	}
	var bad []string
	for _, st := range d.Tasks {
		if st.Compensates != "" && !b.RollbackStarted && b.rollbackDue() {
			b.startRollback()
		}
		if st.TaskID == "" || b.x.tasks[st.TaskID] != nil {
			bad = append(bad, st.TaskID)
			continue
		}
		var t *BatchTask
		if st.Compensates != "" {
			t = b.scheduleCompensation(st)
		} else {
			t = b.scheduleTask(st)
		}
		if t == nil {
			bad = append(bad, st.TaskID)
			continue
		}
		t.ID, t.Status, t.ScheduledAt = st.TaskID, events.StatusPending, e.Time
		b.x.tasks[t.ID] = t
		b.x.active[t.ID] = t
		b.x.uncreated[t.ID] = t
	}
	for b.x.readyHead < len(b.x.ready) && b.refTask(b.x.ready[b.x.readyHead]).Status != "" {
		b.x.readyHead++
	}
	if len(bad) > 0 {
		return fmt.Errorf("batch %s: %d scheduled tasks ignored (duplicate or unknown): %v", b.ID, len(bad), bad)
	}
	return nil
}

func (b *Batch) scheduleTask(st events.ScheduledTask) *BatchTask {
	i, ok := b.x.opIndex[st.OperationID]
	if !ok || st.Index < 0 || st.Index >= len(b.Operations[i].Tasks) {
		return nil
	}
	op := b.Operations[i]
	t := op.Tasks[st.Index]
	if t.Status != "" {
		return nil
	}
	op.scheduled++
	op.running++
	b.x.origActive++
	defer b.touch(i)
	return t
}

func (b *Batch) scheduleCompensation(st events.ScheduledTask) *BatchTask {
	orig := b.x.tasks[st.Compensates]
	if !b.RollbackStarted || orig == nil || orig.Compensates != "" || orig.Status != events.StatusCompleted || b.x.compensator[orig.ID] != nil {
		return nil
	}
	c := &BatchTask{Op: orig.Op, Index: orig.Index, Compensates: orig.ID}
	b.Compensations = append(b.Compensations, c)
	b.x.compensator[orig.ID] = c
	for b.x.compNext < len(b.x.compQueue) && b.x.compensator[b.x.compQueue[b.x.compNext].ID] != nil {
		b.x.compNext++
	}
	return c
}

// stop ends scheduling: after a failure or a cancel request.
func (b *Batch) stop() {
	if b.x.stopping {
		return
	}
	b.x.stopping = true
	b.x.ready, b.x.readyHead = nil, 0
	for i := range b.Operations {
		b.touch(i)
	}
}

// rollbackDue reports whether the batch is to be compensated now: it
// failed, has rollback, was not cancelled, and none of its own work is in
// flight any more (so its completions are final).
func (b *Batch) rollbackDue() bool {
	return b.x.stopping && b.RollbackEnabled && !b.CancelRequested && b.x.origActive == 0
}

// startRollback begins the compensation phase. It happens when the first
// compensation is scheduled, a decision on the batch's own subject: a
// decision to start more original work, computed before the failure was
// seen, can then no longer be stored after it.
func (b *Batch) startRollback() {
	b.RollbackStarted = true
	b.indexRollback()
	for i := range b.Operations {
		b.touch(i)
	}
}

// indexRollback builds the compensation queue and its blockers from the
// completions and the compensations recorded so far.
func (b *Batch) indexRollback() {
	b.x.compQueue = make([]*BatchTask, 0, len(b.Completions))
	for i := len(b.Completions) - 1; i >= 0; i-- {
		if t := b.x.tasks[b.Completions[i]]; t != nil {
			b.x.compQueue = append(b.x.compQueue, t)
		}
	}
	for _, t := range b.x.compQueue {
		for _, d := range b.taskDeps(t) {
			b.x.blockers[d]++
		}
	}
	b.x.compNext = 0
	for b.x.compNext < len(b.x.compQueue) && b.x.compensator[b.x.compQueue[b.x.compNext].ID] != nil {
		b.x.compNext++
	}
}

func (b *Batch) setProgress(t *BatchTask, p float64) {
	if t.Compensates != "" {
		t.Progress = p
		return
	}
	op := b.Operations[t.Op]
	op.progressSum += p - t.Progress
	b.x.progressSum += p - t.Progress
	t.Progress = p
}

// touch re-evaluates whether operation i's reported status is stale.
func (b *Batch) touch(i int) {
	if b.want(b.Operations[i]) != b.Operations[i].Status {
		b.x.toReport[i] = struct{}{}
	} else {
		delete(b.x.toReport, i)
	}
}

// want is the status operation op has by the facts.
func (b *Batch) want(op *Operation) string {
	if op.failed > 0 {
		return events.StatusFailed
	}
	if b.RollbackStarted && op.done > 0 {
		switch {
		case op.compFailed > 0:
			return events.StatusFailed
		case op.compDone == op.done:
			return events.StatusRolledBack
		}
	}
	switch {
	case op.done == len(op.Tasks):
		return events.StatusCompleted
	case op.running > 0:
		return events.StatusRunning
	case b.x.stopping && b.CancelRequested && op.scheduled > 0:
		return events.StatusCancelled
	case b.x.stopping:
		return events.StatusSkipped
	case op.scheduled > 0:
		return events.StatusRunning
	}
	return events.StatusPending
}

func (b *Batch) refTask(r TaskRef) *BatchTask { return b.Operations[r.Op].Tasks[r.Index] }

// taskDeps are the tasks t waited for: the previous task of a sequential
// operation, else the exit tasks of the operation's dependencies.
func (b *Batch) taskDeps(t *BatchTask) []*BatchTask {
	op := b.Operations[t.Op]
	if Sequential(op.Spec) && t.Index > 0 {
		return []*BatchTask{op.Tasks[t.Index-1]}
	}
	var out []*BatchTask
	for _, d := range op.deps {
		dep := b.Operations[d]
		for _, k := range exitIndexes(dep.Spec) {
			out = append(out, dep.Tasks[k])
		}
	}
	return out
}

// taskDependents are the tasks that waited for t.
func (b *Batch) taskDependents(t *BatchTask) []*BatchTask {
	op := b.Operations[t.Op]
	if Sequential(op.Spec) && t.Index+1 < len(op.Tasks) {
		return []*BatchTask{op.Tasks[t.Index+1]}
	}
	var out []*BatchTask
	for _, j := range op.dependents {
		dep := b.Operations[j]
		for _, k := range entryIndexes(dep.Spec) {
			out = append(out, dep.Tasks[k])
		}
	}
	return out
}

func (b *Batch) snapshot(e events.Envelope, opID, opStatus string) {
	b.Snapshots = append(b.Snapshots, BatchSnapshot{
		ID: e.ID, Time: e.Time, Seq: e.Seq, Status: b.Status, Progress: b.Progress(),
		Operation: opID, OperationStatus: opStatus, CompletedTasks: b.x.completed,
		RunningTasks: len(b.x.active), TotalTasks: b.x.total, CancelRequested: b.CancelRequested,
	})
}
