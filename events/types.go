package events

// Type names an event. Types are explicit PascalCase strings, never
// reflected Go type names, because they are part of the public API (the
// WebSocket frames carry them).
type Type string

// Aggregate names the kind of thing an event is about; it is the second
// token of the event's subject.
type Aggregate string

// Aggregates.
const (
	AggTask Aggregate = "task"
)

// Task events.
const (
	TaskCreated         Type = "TaskCreated"
	TaskStatusChanged   Type = "TaskStatusChanged"
	TaskProgress        Type = "TaskProgress"
	TaskCancelRequested Type = "TaskCancelRequested"
)

// aggregateOf maps every known type to its aggregate; each file that
// declares types registers them in its init.
var aggregateOf = map[Type]Aggregate{}

func register(agg Aggregate, types ...Type) {
	for _, t := range types {
		aggregateOf[t] = agg
	}
}

func init() {
	register(AggTask, TaskCreated, TaskStatusChanged, TaskProgress, TaskCancelRequested)
}

// AggregateOf reports the aggregate of a known type.
func AggregateOf(t Type) (Aggregate, bool) {
	a, ok := aggregateOf[t]
	return a, ok
}

// Task statuses. Batches add RolledBack; operations add Skipped and
// RolledBack.
const (
	StatusPending    = "Pending"
	StatusRunning    = "Running"
	StatusCompleted  = "Completed"
	StatusFailed     = "Failed"
	StatusCancelled  = "Cancelled"
	StatusSkipped    = "Skipped"
	StatusRolledBack = "RolledBack"
)

// Terminal reports whether a task status is final.
func Terminal(status string) bool {
	switch status {
	case StatusCompleted, StatusFailed, StatusCancelled, StatusSkipped, StatusRolledBack:
		return true
	}
	return false
}

// TaskSpec says what a task does, in the terms of the provisioning CLI:
// `<workflow> <operation> [target] --infra … [--check] [--wait]`. It is
// kept whole in TaskCreated so that a compensation can run the matching
// delete later.
type TaskSpec struct {
	Workflow  string            `json:"workflow"`
	Operation string            `json:"operation"`
	Target    string            `json:"target,omitempty"`
	Infra     string            `json:"infra"`
	Settings  string            `json:"settings,omitempty"`
	CheckMode bool              `json:"check_mode"`
	Wait      bool              `json:"wait"`
	Provider  string            `json:"provider,omitempty"`
	Server    map[string]string `json:"server,omitempty"`
}

// TaskCreatedData is the payload of TaskCreated: everything an executor
// needs to run the task. The event is also the job: executors consume
// TaskCreated events from a durable work-queue consumer.
type TaskCreatedData struct {
	TaskID string   `json:"task_id"`
	Name   string   `json:"name"`
	Spec   TaskSpec `json:"spec"`
	// CLI is the provisioning CLI the creating instance was configured
	// with; the task view's command is CLI followed by Subcommand. (Schema
	// version 1 stored that joined string as "command" instead; see
	// upcastTaskCreatedV1.)
	CLI string `json:"cli"`
	// Subcommand is appended to the executor's configured CLI, then Args.
	Subcommand     []string `json:"subcommand"`
	Args           []string `json:"args"`
	Dependencies   []string `json:"dependencies"`
	TimeoutSeconds int      `json:"timeout_seconds"`
	BatchID        string   `json:"batch_id,omitempty"`
	OperationID    string   `json:"operation_id,omitempty"`
	// Compensates is the id of the task this one undoes (rollback).
	Compensates string `json:"compensates,omitempty"`
}

// TaskStatusChangedData is the payload of TaskStatusChanged. Executors
// write Running (one per attempt) and the final status; Output and Error
// are set with the final status.
type TaskStatusChangedData struct {
	TaskID      string  `json:"task_id"`
	Status      string  `json:"status"`
	Attempt     int     `json:"attempt,omitempty"`
	Executor    string  `json:"executor,omitempty"`
	Output      string  `json:"output,omitempty"`
	Error       string  `json:"error,omitempty"`
	ExitCode    *int    `json:"exit_code,omitempty"`
	Progress    float64 `json:"progress,omitempty"`
	BatchID     string  `json:"batch_id,omitempty"`
	OperationID string  `json:"operation_id,omitempty"`
	// Step and TotalSteps are the CLI's last progress line when the
	// attempt ended: progress events are sampled, so the last line may
	// not have been recorded as one.
	Step       string `json:"step,omitempty"`
	TotalSteps int    `json:"total_steps,omitempty"`
}

// TaskProgressData is the payload of TaskProgress, parsed from a progress
// line of the CLI's stdout.
type TaskProgressData struct {
	TaskID     string  `json:"task_id"`
	Attempt    int     `json:"attempt"`
	Progress   float64 `json:"progress"`
	Step       string  `json:"step,omitempty"`
	TotalSteps int     `json:"total_steps,omitempty"`
	BatchID    string  `json:"batch_id,omitempty"`
}

// TaskCancelRequestedData is the payload of TaskCancelRequested, appended
// when a running task is to be stopped. The executor running it kills the
// process group and appends the final Cancelled status.
type TaskCancelRequestedData struct {
	TaskID  string `json:"task_id"`
	Reason  string `json:"reason,omitempty"`
	BatchID string `json:"batch_id,omitempty"`
}
