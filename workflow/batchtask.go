package workflow

import (
	"fmt"
	"time"

	"provisioning/events"
)

// ApplyTask folds an event of one of the batch's tasks. Events of tasks it
// does not know are ignored.
func (b *Batch) ApplyTask(e events.Envelope) error {
	t := b.x.tasks[e.AggregateID]
	if t == nil {
		return nil
	}
	t.Seq = e.Seq
	switch e.Type {
	case events.TaskCreated:
		t.Created = true
		delete(b.x.uncreated, t.ID)
	case events.TaskStatusChanged:
		var d events.TaskStatusChangedData
		if err := e.Decode(&d); err != nil {
			return err
		}
		b.applyTaskStatus(t, e.Time, d)
	case events.TaskProgress:
		var d events.TaskProgressData
		if err := e.Decode(&d); err != nil {
			return err
		}
		if t.Status == events.StatusRunning && d.Attempt == t.Attempt {
			// Like the task view, ignore a progress outside 0..100.
			if d.Progress >= 0 && d.Progress <= 100 {
				b.setProgress(t, d.Progress)
			}
			if d.Step != "" {
				t.Step = d.Step
			}
		}
	case events.TaskCancelRequested:
		if !events.Terminal(t.Status) {
			t.CancelRequested = true
		}
	}
	return nil
}

func (b *Batch) applyTaskStatus(t *BatchTask, at time.Time, d events.TaskStatusChangedData) {
	if t.Status == "" || events.Terminal(t.Status) {
		return
	}
	switch d.Status {
	case events.StatusRunning:
		t.Status, t.Attempt, t.StartedAt, t.Step = events.StatusRunning, d.Attempt, at, ""
		b.setProgress(t, 0)
	case events.StatusCompleted, events.StatusFailed, events.StatusCancelled:
		t.Error = truncate(d.Error, 500)
		b.finish(t, d.Status, at)
	}
}

// finish records a task's final status and what follows from it.
func (b *Batch) finish(t *BatchTask, status string, at time.Time) {
	t.Status, t.FinishedAt = status, at
	delete(b.x.active, t.ID)
	delete(b.x.uncreated, t.ID)
	if t.Compensates != "" {
		b.finishCompensation(t)
		return
	}
	op := b.Operations[t.Op]
	op.running--
	b.x.origActive--
	switch {
	case status == events.StatusCompleted:
		b.setProgress(t, 100)
		op.done++
		b.x.completed++
		b.Completions = append(b.Completions, t.ID)
		b.advance(t)
	case status == events.StatusCancelled && b.CancelRequested:
		op.cancelled++
	default:
		t.Failure = true
		op.failed++
		if b.Error == "" {
			b.Error = fmt.Sprintf("operation %s: task %s %s", op.Spec.ID, t.ID, describeEnd(status, t.Error))
		}
		b.stop()
	}
	b.touch(t.Op)
}

func describeEnd(status, errText string) string {
	if errText == "" {
		return "ended " + status
	}
	return "ended " + status + ": " + errText
}

func (b *Batch) finishCompensation(c *BatchTask) {
	op := b.Operations[c.Op]
	switch {
	case c.Status == events.StatusCompleted:
		op.compDone++
	case c.Status == events.StatusCancelled && b.CancelRequested:
	default:
		c.Failure = true
		op.compFailed++
		b.x.compFailed++
	}
	if orig := b.x.tasks[c.Compensates]; orig != nil {
		for _, d := range b.taskDeps(orig) {
			b.x.blockers[d]--
		}
	}
	b.touch(c.Op)
}

// advance makes ready what a completed task unblocks.
func (b *Batch) advance(t *BatchTask) {
	op := b.Operations[t.Op]
	if Sequential(op.Spec) && t.Index+1 < len(op.Tasks) && !b.x.stopping {
		b.x.ready = append(b.x.ready, TaskRef{t.Op, t.Index + 1})
	}
	if op.done < len(op.Tasks) {
		return
	}
	for _, j := range op.dependents {
		dep := b.Operations[j]
		if dep.remaining--; dep.remaining == 0 && !b.x.stopping {
			for _, k := range entryIndexes(dep.Spec) {
				b.x.ready = append(b.x.ready, TaskRef{j, k})
			}
		}
	}
}
