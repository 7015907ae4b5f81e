package workflow

import (
	"fmt"
	"math"
	"strings"
	"time"

	"provisioning/events"
)

// Rollback is the state of one rollback, folded from its own events
// (RollbackStarted, RollbackCompleted) and the events of its
// compensation tasks.
//
// The rules it implements: the targets are compensated one at a time, in
// the order RollbackStarted lists them (newest completion first), so the
// undo of a task never runs before the undo of anything completed after
// it. A compensation that fails (or is cancelled) is counted and the next
// one starts anyway: what can be undone is undone. Once every compensation
// has ended the rollback is Completed (all succeeded) or Failed.
//
// A Rollback is not safe for concurrent use; the view that holds it guards
// it.
type Rollback struct {
	ID           string
	CheckpointID string
	OperationIDs []string
	// Status is Running until RollbackCompleted records Completed or
	// Failed.
	Status     string
	StartedAt  time.Time
	FinishedAt *time.Time
	Steps      []*RollbackStep
	// Executed and Failed count the compensations that completed and that
	// did not, as RollbackCompleted recorded them (live counts: Counts).
	Executed, Failed int
	Duration         float64
	TimeoutSeconds   int
	CLI              string
	Snapshots        []Snapshot
	// Seq is the stream sequence of the rollback's last own event: the
	// version its completion expects. CreatedSeq is RollbackStarted's.
	Seq        uint64
	CreatedSeq uint64
}

// RollbackStep is one compensation of a rollback.
type RollbackStep struct {
	Target events.RollbackTarget
	// Status is "" until the compensation task is created, then Pending,
	// Running, Completed, Failed or Cancelled.
	Status     string
	Attempt    int
	Progress   float64
	Step       string
	StartedAt  time.Time
	FinishedAt time.Time
	Error      string
}

// NewRollback starts a rollback's state from its RollbackStarted event.
func NewRollback(e events.Envelope, d events.RollbackStartedData) *Rollback {
	r := &Rollback{
		ID: d.RollbackID, CheckpointID: d.CheckpointID, OperationIDs: d.OperationIDs,
		Status: events.StatusRunning, StartedAt: e.Time, TimeoutSeconds: d.TimeoutSeconds, CLI: d.CLI,
		Seq: e.Seq, CreatedSeq: e.Seq, Steps: make([]*RollbackStep, len(d.Targets)),
	}
	for i, t := range d.Targets {
		r.Steps[i] = &RollbackStep{Target: t}
	}
	r.snapshot(e)
	return r
}

// Terminal reports whether the rollback has its final status.
func (r *Rollback) Terminal() bool { return r.Status != events.StatusRunning }

// Apply folds one of the rollback's own events other than RollbackStarted.
func (r *Rollback) Apply(e events.Envelope) error {
	r.Seq = e.Seq
	if e.Type != events.RollbackCompleted {
		return nil
	}
	var d events.RollbackCompletedData
	if err := e.Decode(&d); err != nil {
		return err
	}
	if r.Terminal() {
		return fmt.Errorf("rollback %s: completed twice (seq %d)", r.ID, e.Seq)
	}
	at := e.Time
	r.Status, r.FinishedAt = d.Status, &at
	r.Executed, r.Failed, r.Duration = d.Executed, d.Failed, d.DurationSeconds
	r.snapshot(e)
	return nil
}

// StepOf returns the step whose compensation task is id (-1: none).
func (r *Rollback) StepOf(id string) int {
	for i, s := range r.Steps {
		if s.Target.CompensationID == id {
			return i
		}
	}
	return -1
}

// ApplyTask folds an event of the compensation task of step i.
func (r *Rollback) ApplyTask(i int, e events.Envelope) error {
	s := r.Steps[i]
	switch e.Type {
	case events.TaskCreated:
		if s.Status == "" {
			s.Status = events.StatusPending
		}
	case events.TaskStatusChanged:
		var d events.TaskStatusChangedData
		if err := e.Decode(&d); err != nil {
			return err
		}
		if s.Status == "" || events.Terminal(s.Status) {
			return nil
		}
		switch d.Status {
		case events.StatusRunning:
			s.Status, s.Attempt, s.StartedAt, s.Progress, s.Step = events.StatusRunning, d.Attempt, e.Time, 0, ""
		case events.StatusCompleted, events.StatusFailed, events.StatusCancelled:
			s.Status, s.FinishedAt, s.Error = d.Status, e.Time, truncate(d.Error, 500)
			if d.Status == events.StatusCompleted {
				s.Progress = 100
			}
			r.snapshot(e)
		}
	case events.TaskProgress:
		var d events.TaskProgressData
		if err := e.Decode(&d); err != nil {
			return err
		}
		if s.Status == events.StatusRunning && d.Attempt == s.Attempt && d.Progress >= 0 && d.Progress <= 100 {
			s.Progress = d.Progress
			if d.Step != "" {
				s.Step = d.Step
			}
		}
	}
	return nil
}

// Counts returns the compensations that completed, that ended otherwise,
// and how many there are.
func (r *Rollback) Counts() (executed, failed, total int) {
	for _, s := range r.Steps {
		switch {
		case s.Status == events.StatusCompleted:
			executed++
		case events.Terminal(s.Status):
			failed++
		}
	}
	return executed, failed, len(r.Steps)
}

// Progress is the rollback's progress, 0..100: the mean progress of its
// compensations.
func (r *Rollback) Progress() float64 {
	if len(r.Steps) == 0 {
		if r.Terminal() {
			return 100
		}
		return 0
	}
	var sum float64
	for _, s := range r.Steps {
		sum += s.Progress
	}
	return round1(sum / float64(len(r.Steps)))
}

// Current is the step under way (created or about to be), -1 when every
// step has ended.
func (r *Rollback) Current() int {
	for i, s := range r.Steps {
		if !events.Terminal(s.Status) {
			return i
		}
	}
	return -1
}

// RollbackDecision is what is to be done next for a rollback: create the
// compensation task of one step, or record the end.
type RollbackDecision struct {
	// Create is the payload of the TaskCreated to append (with
	// ExpectLast(0), so that creating it twice is a conflict).
	Create *events.TaskCreatedData
	// Complete is the payload of the RollbackCompleted to append
	// expecting the rollback's Seq.
	Complete *events.RollbackCompletedData
}

// Next decides from the rollback's state. It is pure.
func (r *Rollback) Next() RollbackDecision {
	var d RollbackDecision
	if r.Terminal() {
		return d
	}
	i := r.Current()
	if i < 0 {
		executed, failed, _ := r.Counts()
		status := events.StatusCompleted
		if failed > 0 {
			status = events.StatusFailed
		}
		end := r.StartedAt
		for _, s := range r.Steps {
			if s.FinishedAt.After(end) {
				end = s.FinishedAt
			}
		}
		d.Complete = &events.RollbackCompletedData{RollbackID: r.ID, Status: status, Executed: executed, Failed: failed,
			DurationSeconds: math.Round(end.Sub(r.StartedAt).Seconds()*1000) / 1000, Success: failed == 0}
		return d
	}
	if r.Steps[i].Status == "" {
		c := r.compensation(i)
		d.Create = &c
	}
	return d
}

// compensation is the TaskCreated payload of step i's compensation task:
// the undo of the target, depending on the previous compensation.
func (r *Rollback) compensation(i int) events.TaskCreatedData {
	t := r.Steps[i].Target
	c := TaskCreated(t.CompensationID, t.Spec, r.CLI, r.TimeoutSeconds)
	c.Name = "rollback_" + c.Name
	c.Compensates = t.TaskID
	if i > 0 {
		c.Dependencies = []string{r.Steps[i-1].Target.CompensationID}
	}
	return c
}

func (r *Rollback) snapshot(e events.Envelope) {
	executed, failed, total := r.Counts()
	details := map[string]any{"status": r.Status, "progress": r.Progress(), "executed": executed, "failed": failed, "total": total}
	if i := r.Current(); i >= 0 && !r.Terminal() {
		details["current_task"] = r.Steps[i].Target.TaskID
	}
	r.Snapshots = append(r.Snapshots, Snapshot{SnapshotID: e.ID, Timestamp: e.Time, State: strings.ToLower(r.Status), Details: details, Seq: e.Seq})
}
