package events

// Recovery aggregates. A checkpoint records a stream position and the
// views at it; StateRestored, appended to the checkpoint it restores,
// sets the views back to that position. A rollback is a workflow of its
// own: its compensation tasks are ordinary tasks.
const (
	AggCheckpoint Aggregate = "checkpoint"
	AggRollback   Aggregate = "rollback"
)

// Recovery events.
const (
	CheckpointCreated Type = "CheckpointCreated"
	StateRestored     Type = "StateRestored"
	RollbackStarted   Type = "RollbackStarted"
	RollbackCompleted Type = "RollbackCompleted"
)

func init() {
	register(AggCheckpoint, CheckpointCreated, StateRestored)
	register(AggRollback, RollbackStarted, RollbackCompleted)
}

// CheckpointCreatedData is the payload of CheckpointCreated. The views
// as they were after folding the event at Seq are kept in the checkpoint
// object store under Object (SizeBytes long, SHA256 its hex digest): a
// cache of what folding the stream up to Seq gives, recomputed from the
// stream when it is missing or does not match.
type CheckpointCreatedData struct {
	CheckpointID string `json:"checkpoint_id"`
	Name         string `json:"name"`
	Description  string `json:"description,omitempty"`
	Seq          uint64 `json:"seq"`
	SizeBytes    int64  `json:"size_bytes"`
	// OperationsCount is the number of tasks Completed at Seq (a batch's
	// tasks and compensations included, each counted once).
	OperationsCount int      `json:"operations_count"`
	Object          string   `json:"object"`
	SHA256          string   `json:"sha256"`
	Views           []string `json:"views"`
}

// StateRestoredData is the payload of StateRestored: folding it sets the
// restorable views (tasks and batches) back to their state at Seq, the
// position of checkpoint CheckpointID, whose object and digest are copied
// here so the fold needs nothing but this event and the stream.
type StateRestoredData struct {
	CheckpointID string `json:"checkpoint_id"`
	Seq          uint64 `json:"seq"`
	Object       string `json:"object"`
	SHA256       string `json:"sha256"`
}

// RollbackTarget is one task a rollback compensates, in the order the
// compensations run (newest completion first). CompensationID is the id of
// the compensation task, chosen when the rollback starts so that creating
// it (TaskCreated with ExpectLast(0)) can be retried by anyone without
// ever creating it twice; Spec is the compensation's spec (the undo of the
// task's).
type RollbackTarget struct {
	TaskID         string   `json:"task_id"`
	CompensationID string   `json:"compensation_id"`
	Name           string   `json:"name"`
	Spec           TaskSpec `json:"spec"`
	BatchID        string   `json:"batch_id,omitempty"`
	OperationID    string   `json:"operation_id,omitempty"`
	// CompletedSeq is the sequence of the task's Completed status.
	CompletedSeq uint64 `json:"completed_seq"`
}

// RollbackStartedData is the payload of RollbackStarted: the request
// (a checkpoint or operation ids) and the targets it resolved to.
type RollbackStartedData struct {
	RollbackID   string           `json:"rollback_id"`
	CheckpointID string           `json:"checkpoint_id,omitempty"`
	OperationIDs []string         `json:"operation_ids,omitempty"`
	Targets      []RollbackTarget `json:"targets"`
	// TimeoutSeconds is recorded in the compensation tasks.
	TimeoutSeconds int `json:"timeout_seconds"`
	// CLI is shown at the start of the compensation tasks' commands.
	CLI string `json:"cli"`
}

// RollbackCompletedData is the payload of RollbackCompleted, appended once
// every compensation has ended: Status is Completed when all of them
// completed, Failed otherwise. DurationSeconds runs from RollbackStarted
// to the end of the last compensation.
type RollbackCompletedData struct {
	RollbackID      string  `json:"rollback_id"`
	Status          string  `json:"status"`
	Executed        int     `json:"executed"`
	Failed          int     `json:"failed"`
	DurationSeconds float64 `json:"duration_seconds"`
	Success         bool    `json:"success"`
}
