package workflow

import (
	"sort"

	"provisioning/events"
)

// Rebuild recomputes the batch's indexes from its facts: after NewBatch,
// and after a snapshot (which keeps only the facts) is restored. The
// result is the state the incremental fold reaches, except for the order
// of the ready queue, which becomes operation order.
func (b *Batch) Rebuild() {
	x := index{
		opIndex: make(map[string]int, len(b.Operations)), tasks: map[string]*BatchTask{},
		active: map[string]*BatchTask{}, uncreated: map[string]*BatchTask{}, toReport: map[int]struct{}{},
		compensator: map[string]*BatchTask{}, blockers: map[*BatchTask]int{},
	}
	for i, op := range b.Operations {
		x.opIndex[op.Spec.ID] = i
		*op = Operation{Spec: op.Spec, Status: op.Status, Progress: op.Progress, Tasks: op.Tasks}
		x.total += len(op.Tasks)
	}
	b.x = x
	for i, op := range b.Operations {
		for _, d := range op.Spec.Dependencies {
			if j, ok := x.opIndex[d]; ok {
				op.deps = append(op.deps, j)
				b.Operations[j].dependents = append(b.Operations[j].dependents, i)
			}
		}
		for _, t := range op.Tasks {
			b.indexTask(op, t)
		}
	}
	for _, c := range b.Compensations {
		b.indexCompensation(c)
	}
	b.x.stopping = b.CancelRequested
	for _, op := range b.Operations {
		b.x.stopping = b.x.stopping || op.failed > 0
		for _, d := range op.deps {
			if dep := b.Operations[d]; dep.done < len(dep.Tasks) {
				op.remaining++
			}
		}
	}
	if b.RollbackStarted {
		b.indexRollback()
		for _, c := range b.Compensations {
			if events.Terminal(c.Status) {
				for _, d := range b.taskDeps(b.x.tasks[c.Compensates]) {
					b.x.blockers[d]--
				}
			}
		}
	}
	if !b.x.stopping {
		for i := range b.Operations {
			b.indexReady(i)
		}
	}
	for i := range b.Operations {
		b.touch(i)
	}
}

func (b *Batch) indexTask(op *Operation, t *BatchTask) {
	if t.Status == "" {
		return
	}
	b.x.tasks[t.ID] = t
	op.scheduled++
	op.progressSum += t.Progress
	b.x.progressSum += t.Progress
	switch t.Status {
	case events.StatusCompleted:
		op.done++
		b.x.completed++
	case events.StatusFailed, events.StatusCancelled:
		if t.Failure {
			op.failed++
		} else {
			op.cancelled++
		}
	default:
		op.running++
		b.x.origActive++
		b.indexActive(t)
	}
}

func (b *Batch) indexCompensation(c *BatchTask) {
	b.x.tasks[c.ID] = c
	b.x.compensator[c.Compensates] = c
	op := b.Operations[c.Op]
	switch {
	case c.Status == events.StatusCompleted:
		op.compDone++
	case c.Failure:
		op.compFailed++
		b.x.compFailed++
	case !events.Terminal(c.Status):
		b.indexActive(c)
	}
}

func (b *Batch) indexActive(t *BatchTask) {
	b.x.active[t.ID] = t
	if !t.Created {
		b.x.uncreated[t.ID] = t
	}
}

// indexReady queues the tasks of operation i that may start.
func (b *Batch) indexReady(i int) {
	op := b.Operations[i]
	if op.remaining > 0 {
		return
	}
	if Sequential(op.Spec) {
		k := op.done
		if k < len(op.Tasks) && op.Tasks[k].Status == "" && (k == 0 || op.Tasks[k-1].Status == events.StatusCompleted) {
			b.x.ready = append(b.x.ready, TaskRef{i, k})
		}
		return
	}
	for k, t := range op.Tasks {
		if t.Status == "" {
			b.x.ready = append(b.x.ready, TaskRef{i, k})
		}
	}
}

// Progress is the batch's progress, 0..100: the mean progress of its
// tasks (a completed task counts 100).
func (b *Batch) Progress() float64 {
	if b.x.total == 0 {
		return 0
	}
	return round1(b.x.progressSum / float64(b.x.total))
}

// LiveProgress is the operation's progress now, 0..100.
func (op *Operation) LiveProgress() float64 {
	if len(op.Tasks) == 0 {
		return 0
	}
	return round1(op.progressSum / float64(len(op.Tasks)))
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// OperationCounts are an operation's tasks by outcome.
type OperationCounts struct {
	Total, Scheduled, Running, Completed, Failed, Cancelled int
}

// Counts returns the operation's tasks by outcome.
func (op *Operation) Counts() OperationCounts {
	return OperationCounts{Total: len(op.Tasks), Scheduled: op.scheduled, Running: op.running,
		Completed: op.done, Failed: op.failed, Cancelled: op.cancelled}
}

// Counts returns the batch's original tasks: all, completed, and those
// scheduled and not finished (compensations included).
func (b *Batch) Counts() (total, completed, active int) {
	return b.x.total, b.x.completed, len(b.x.active)
}

// Task returns a task of the batch by id.
func (b *Batch) Task(id string) *BatchTask { return b.x.tasks[id] }

// TaskIDs lists the ids of every task of the batch, compensations
// included.
func (b *Batch) TaskIDs() []string {
	out := make([]string, 0, len(b.x.tasks))
	for id := range b.x.tasks {
		out = append(out, id)
	}
	return out
}

// Ready lists the tasks that may start now, in operation order (for
// tests and diagnostics).
func (b *Batch) Ready() []TaskRef {
	var out []TaskRef
	for _, r := range b.x.ready[b.x.readyHead:] {
		if b.refTask(r).Status == "" {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Op != out[j].Op {
			return out[i].Op < out[j].Op
		}
		return out[i].Index < out[j].Index
	})
	return out
}

// Stopping reports whether the batch stopped scheduling its work: a task
// failed or a cancel was requested.
func (b *Batch) Stopping() bool { return b.x.stopping }
