package workflow

import (
	"encoding/gob"
	"strings"
	"time"

	"provisioning/events"
)

// Task is the state of one task folded from its events. Its JSON is the
// task view of the API.
type Task struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Command      string     `json:"command"`
	Args         []string   `json:"args"`
	Dependencies []string   `json:"dependencies"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	CompletedAt  *time.Time `json:"completed_at"`
	Output       *string    `json:"output"`
	Error        *string    `json:"error"`

	Workflow        string  `json:"workflow"`
	Operation       string  `json:"operation"`
	Progress        float64 `json:"progress"`
	CurrentStep     *string `json:"current_step"`
	TotalSteps      int     `json:"total_steps,omitempty"`
	CompletedSteps  int     `json:"completed_steps"`
	Attempts        int     `json:"attempts"`
	CancelRequested bool    `json:"cancel_requested,omitempty"`
	TimeoutSeconds  int     `json:"timeout_seconds"`
	BatchID         string  `json:"batch_id,omitempty"`
	OperationID     string  `json:"operation_id,omitempty"`
	Compensates     string  `json:"compensates,omitempty"`

	// Spec is what a compensation needs to undo the task; it is not part
	// of the view.
	Spec events.TaskSpec `json:"-"`
	// Snapshots holds the task as it was at each status change.
	Snapshots []Snapshot `json:"-"`
	// CreatedSeq orders tasks by creation.
	CreatedSeq uint64 `json:"-"`
	// Seq is the stream sequence of the task's last event: the version an
	// optimistic append expects.
	Seq uint64 `json:"-"`
}

// Snapshot is the state of a workflow at one status change.
type Snapshot struct {
	SnapshotID string    `json:"snapshot_id"`
	Timestamp  time.Time `json:"timestamp"`
	State      string    `json:"state"`
	Details    any       `json:"details"`
	Seq        uint64    `json:"seq"`
}

// Terminal reports whether the task has reached a final status.
func (t *Task) Terminal() bool { return events.Terminal(t.Status) }

// Duration is how long the task ran, zero until it has finished.
func (t *Task) Duration() time.Duration {
	if t.StartedAt == nil || t.CompletedAt == nil {
		return 0
	}
	return t.CompletedAt.Sub(*t.StartedAt)
}

// NewTask starts a task's state from its TaskCreated event.
func NewTask(e events.Envelope, d events.TaskCreatedData) *Task {
	t := &Task{
		ID:             d.TaskID,
		Name:           d.Name,
		Command:        CommandLine(d.CLI, d.Subcommand),
		Args:           nonNil(d.Args),
		Dependencies:   nonNil(d.Dependencies),
		Status:         events.StatusPending,
		CreatedAt:      e.Time,
		Workflow:       d.Spec.Workflow,
		Operation:      d.Spec.Operation,
		TimeoutSeconds: d.TimeoutSeconds,
		BatchID:        d.BatchID,
		OperationID:    d.OperationID,
		Compensates:    d.Compensates,
		Spec:           d.Spec,
		CreatedSeq:     e.Seq,
		Seq:            e.Seq,
	}
	t.snapshot(e)
	return t
}

// CommandLine is a task's command as the view shows it: the CLI and the
// subcommand words.
func CommandLine(cli string, subcommand []string) string {
	return strings.TrimSpace(cli + " " + strings.Join(subcommand, " "))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Apply folds one later event of the task into its state. Events that
// cannot change a finished task (a late progress line, a second final
// status) are recorded in Seq but change nothing else.
func (t *Task) Apply(e events.Envelope) error {
	t.Seq = e.Seq
	switch e.Type {
	case events.TaskStatusChanged:
		var d events.TaskStatusChangedData
		if err := e.Decode(&d); err != nil {
			return err
		}
		t.applyStatus(e, d)
	case events.TaskProgress:
		var d events.TaskProgressData
		if err := e.Decode(&d); err != nil {
			return err
		}
		t.applyProgress(d)
	case events.TaskCancelRequested:
		if !t.Terminal() {
			t.CancelRequested = true
		}
	}
	return nil
}

func (t *Task) applyStatus(e events.Envelope, d events.TaskStatusChangedData) {
	if t.Terminal() {
		return
	}
	at := e.Time
	switch d.Status {
	case events.StatusRunning:
		t.Status = events.StatusRunning
		t.Attempts = d.Attempt
		t.StartedAt = &at
		t.Progress, t.CurrentStep, t.CompletedSteps = 0, nil, 0
	case events.StatusCompleted, events.StatusFailed, events.StatusCancelled:
		t.Status = d.Status
		t.CompletedAt = &at
		if d.Output != "" {
			out := d.Output
			t.Output = &out
		}
		if d.Error != "" {
			msg := d.Error
			t.Error = &msg
		}
		t.reachStep(d.Step, d.TotalSteps)
		if d.Progress > t.Progress && d.Progress <= 100 {
			t.Progress = d.Progress
		}
		if d.Status == events.StatusCompleted {
			t.Progress = 100
			if t.TotalSteps > 0 {
				t.CompletedSteps = t.TotalSteps
			}
		}
	default:
		return
	}
	t.snapshot(e)
}

func (t *Task) applyProgress(d events.TaskProgressData) {
	if t.Status != events.StatusRunning || d.Attempt != t.Attempts {
		return
	}
	if d.Progress >= 0 && d.Progress <= 100 {
		t.Progress = d.Progress
	}
	t.reachStep(d.Step, d.TotalSteps)
}

// reachStep records a step the CLI reported: a new step completes the
// previous one.
func (t *Task) reachStep(step string, total int) {
	if total > 0 {
		t.TotalSteps = total
	}
	if step != "" && (t.CurrentStep == nil || *t.CurrentStep != step) {
		if t.CurrentStep != nil {
			t.CompletedSteps++
		}
		t.CurrentStep = &step
	}
}

// TaskDetails is what a task's snapshot records; a struct rather than a
// map because every task keeps a few of them in memory.
type TaskDetails struct {
	Status      string  `json:"status"`
	Progress    float64 `json:"progress"`
	Attempts    int     `json:"attempts"`
	Error       string  `json:"error,omitempty"`
	CurrentStep string  `json:"current_step,omitempty"`
}

func init() {
	// Snapshot.Details holds TaskDetails in gob-encoded view snapshots.
	gob.Register(TaskDetails{})
}

func (t *Task) snapshot(e events.Envelope) {
	d := TaskDetails{Status: t.Status, Progress: t.Progress, Attempts: t.Attempts}
	if t.Error != nil {
		d.Error = *t.Error
	}
	if t.CurrentStep != nil {
		d.CurrentStep = *t.CurrentStep
	}
	t.Snapshots = append(t.Snapshots, Snapshot{
		SnapshotID: e.ID,
		Timestamp:  e.Time,
		State:      strings.ToLower(t.Status),
		Details:    d,
		Seq:        e.Seq,
	})
}
