package workflow

import (
	"fmt"
	"sort"
	"time"

	"provisioning/events"
)

// Decision is what is to be done next for a batch.
//
// Schedule, Reports and Status are the decision proper: they become the
// batch's next events (see Events), appended in that order as a chain
// whose first link expects the batch's Seq, so that of two coordinators
// deciding from the same state only one is stored.
//
// Create and Cancel are the effects of decisions already stored: tasks
// that were scheduled but whose TaskCreated has not been seen, and tasks
// to stop because the batch is being cancelled. They are idempotent
// (creating expects the task not to exist, cancelling expects its head),
// so any coordinator may carry them out, any number of times.
type Decision struct {
	Schedule []TaskPlan
	Reports  []events.OperationStatusChangedData
	Status   string
	Error    string
	// Progress is the batch's progress, recorded with Status.
	Progress float64

	Create []TaskPlan
	Cancel []CancelTarget
}

// TaskPlan is everything needed to create one task of a batch.
type TaskPlan struct {
	// ID is empty in Decision.Schedule until Events assigns one.
	ID           string
	BatchID      string
	OperationID  string
	Index        int
	Compensates  string
	Spec         events.TaskSpec
	Dependencies []string
	ScheduledAt  time.Time
}

// CancelTarget is a task to stop and its head, the version the
// cancellation expects (see CancelEvent).
type CancelTarget struct {
	TaskID string
	Head   Head
}

// Empty reports whether there is nothing to do.
func (d Decision) Empty() bool {
	return len(d.Schedule) == 0 && len(d.Reports) == 0 && d.Status == "" && len(d.Create) == 0 && len(d.Cancel) == 0
}

// Decides reports whether the decision holds events for the batch's own
// subject.
func (d Decision) Decides() bool {
	return len(d.Schedule) > 0 || len(d.Reports) > 0 || d.Status != ""
}

// Next decides what follows from the batch's state. It is pure and costs
// what changed since the last decision (plus, when scheduling, at most
// ParallelLimit tasks): the coordinator runs it after every event of the
// batch.
func (b *Batch) Next() Decision {
	var d Decision
	if b.Terminal() {
		return d
	}
	d.Create = b.uncreatedPlans()
	if b.CancelRequested {
		d.Cancel = b.cancelTargets()
	}
	capacity := b.ParallelLimit - len(b.x.active)
	switch {
	case !b.x.stopping:
		d.Schedule = b.readyPlans(capacity)
	case b.rollbackDue():
		d.Schedule = b.compensationPlans(capacity)
	}
	d.Reports = b.reports(d.Schedule)
	if len(d.Schedule) == 0 && len(b.x.active) == 0 {
		d.Status, d.Error = b.final()
		d.Progress = b.Progress()
	}
	return d
}

func (b *Batch) readyPlans(capacity int) []TaskPlan {
	var out []TaskPlan
	for i := b.x.readyHead; i < len(b.x.ready) && len(out) < capacity; i++ {
		if t := b.refTask(b.x.ready[i]); t.Status == "" {
			out = append(out, b.plan(t))
		}
	}
	return out
}

// compensationPlans picks the next compensations: in reverse order of
// completion, each only once the compensations of its dependents have
// finished (the head of the queue waits, and so do the ones behind it).
// The first decision of a rollback schedules only the last completed
// task, which nothing completed depended on; storing it starts the
// rollback phase whose indexes the later decisions use.
func (b *Batch) compensationPlans(capacity int) []TaskPlan {
	if capacity <= 0 {
		return nil
	}
	if !b.RollbackStarted {
		if len(b.Completions) == 0 {
			return nil
		}
		return []TaskPlan{b.compensationPlan(b.x.tasks[b.Completions[len(b.Completions)-1]])}
	}
	var out []TaskPlan
	for k := b.x.compNext; k < len(b.x.compQueue) && len(out) < capacity; k++ {
		orig := b.x.compQueue[k]
		if b.x.compensator[orig.ID] != nil {
			continue
		}
		if b.x.blockers[orig] > 0 {
			break
		}
		out = append(out, b.compensationPlan(orig))
	}
	return out
}

// final is the batch's final status once nothing of it is in flight and
// nothing more is to be scheduled, "" while the batch goes on.
func (b *Batch) final() (status, reason string) {
	switch {
	case b.x.completed == b.x.total:
		return events.StatusCompleted, ""
	case b.CancelRequested:
		return events.StatusCancelled, "cancelled by request"
	case !b.x.stopping:
		return "", ""
	case !b.RollbackEnabled:
		return events.StatusFailed, b.Error
	case !b.RollbackStarted && len(b.Completions) > 0, b.x.compNext < len(b.x.compQueue):
		return "", ""
	case b.x.compFailed > 0:
		return events.StatusFailed, fmt.Sprintf("%s; rollback incomplete: %d compensations failed", b.Error, b.x.compFailed)
	}
	return events.StatusRolledBack, b.Error
}

// reports lists the operations whose reported status is stale, including
// the ones this decision starts.
func (b *Batch) reports(schedule []TaskPlan) []events.OperationStatusChangedData {
	starting := map[int]bool{}
	for _, p := range schedule {
		if p.Compensates == "" {
			starting[b.x.opIndex[p.OperationID]] = true
		}
	}
	ops := make([]int, 0, len(b.x.toReport)+len(starting))
	for i := range b.x.toReport {
		ops = append(ops, i)
	}
	for i := range starting {
		if _, dup := b.x.toReport[i]; !dup {
			ops = append(ops, i)
		}
	}
	sort.Ints(ops)
	var out []events.OperationStatusChangedData
	for _, i := range ops {
		op := b.Operations[i]
		status := b.want(op)
		if starting[i] && status == events.StatusPending {
			status = events.StatusRunning
		}
		if status == op.Status {
			continue
		}
		out = append(out, events.OperationStatusChangedData{
			BatchID: b.ID, OperationID: op.Spec.ID, Status: status, Progress: op.LiveProgress(),
			CompletedTasks: op.done, TotalTasks: len(op.Tasks),
		})
	}
	return out
}

func (b *Batch) plan(t *BatchTask) TaskPlan {
	op := b.Operations[t.Op]
	deps := b.taskDeps(t)
	ids := make([]string, 0, len(deps))
	for _, d := range deps {
		if d.ID != "" {
			ids = append(ids, d.ID)
		}
	}
	return TaskPlan{ID: t.ID, BatchID: b.ID, OperationID: op.Spec.ID, Index: t.Index,
		Spec: TaskSpecAt(op.Spec, t.Index), Dependencies: ids, ScheduledAt: t.ScheduledAt}
}

// compensationPlan undoes orig; it depends on the compensations of the
// tasks that depended on orig.
func (b *Batch) compensationPlan(orig *BatchTask) TaskPlan {
	p := b.plan(orig)
	p.ID, p.ScheduledAt, p.Compensates = "", time.Time{}, orig.ID
	p.Spec = Undo(p.Spec)
	p.Dependencies = []string{}
	for _, d := range b.taskDependents(orig) {
		if c := b.x.compensator[d.ID]; d.ID != "" && c != nil {
			p.Dependencies = append(p.Dependencies, c.ID)
		}
	}
	if c := b.x.compensator[orig.ID]; c != nil {
		p.ID, p.ScheduledAt = c.ID, c.ScheduledAt
	}
	return p
}

func (b *Batch) uncreatedPlans() []TaskPlan {
	if len(b.x.uncreated) == 0 {
		return nil
	}
	out := make([]TaskPlan, 0, len(b.x.uncreated))
	for _, t := range b.x.uncreated {
		if t.Compensates != "" {
			out = append(out, b.compensationPlan(b.x.tasks[t.Compensates]))
		} else {
			out = append(out, b.plan(t))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (b *Batch) cancelTargets() []CancelTarget {
	var out []CancelTarget
	for _, t := range b.x.active {
		if t.Created && !t.CancelRequested {
			out = append(out, CancelTarget{TaskID: t.ID, Head: Head{Seq: t.Seq, Status: t.Status, Attempt: t.Attempt, BatchID: b.ID}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out
}

// TaskSpecAt is the spec of the i-th task of op (see TaskSpecs). Every
// task passes --wait: a dependent operation needs the work done.
func TaskSpecAt(op events.BatchOperation, i int) events.TaskSpec {
	s := events.TaskSpec{Operation: OpCreate, Infra: op.Infra, Settings: op.Settings, Provider: op.Provider, Wait: true}
	switch op.Type {
	case events.OpServerBatch:
		s.Workflow, s.Server = Servers, op.ServerConfigs[i]
	case events.OpTaskservBatch:
		s.Workflow, s.Target = Taskserv, op.Taskservs[i]
	case events.OpClusterBatch:
		s.Workflow, s.Target = Cluster, op.Clusters[i]
	}
	return s
}

// Events turns the decision into the batch's events, in append order:
// BatchTasksScheduled (with a new id from newID for every task), the
// operations' status changes, the batch's final status. It returns the
// scheduled plans with their ids, to be created once the first event is
// stored.
func (d Decision) Events(batchID string, newID func() string) ([]events.Envelope, []TaskPlan, error) {
	var out []events.Envelope
	var plans []TaskPlan
	if len(d.Schedule) > 0 {
		plans = make([]TaskPlan, len(d.Schedule))
		sched := events.BatchTasksScheduledData{BatchID: batchID, Tasks: make([]events.ScheduledTask, len(d.Schedule))}
		for i, p := range d.Schedule {
			p.ID = newID()
			plans[i] = p
			sched.Tasks[i] = events.ScheduledTask{TaskID: p.ID, OperationID: p.OperationID, Index: p.Index, Compensates: p.Compensates}
		}
		e, err := events.New(events.BatchTasksScheduled, batchID, sched)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
	for _, r := range d.Reports {
		e, err := events.New(events.OperationStatusChanged, batchID, r)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
	if d.Status != "" {
		e, err := events.New(events.BatchStatusChanged, batchID, events.BatchStatusChangedData{BatchID: batchID, Status: d.Status, Error: d.Error, Progress: d.Progress})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
	return out, plans, nil
}

// TaskCreated is the payload that creates the planned task with the CLI
// cli (shown in its command) and a timeout.
func (p TaskPlan) TaskCreated(cli string, timeoutSeconds int) events.TaskCreatedData {
	d := TaskCreated(p.ID, p.Spec, cli, timeoutSeconds)
	d.Dependencies = p.Dependencies
	if d.Dependencies == nil {
		d.Dependencies = []string{}
	}
	d.BatchID, d.OperationID, d.Compensates = p.BatchID, p.OperationID, p.Compensates
	if p.Compensates != "" {
		d.Name = "rollback_" + d.Name
	}
	return d
}
