package events

// AggBatch is the aggregate of batch operations: a batch's spec, the
// coordinator's decisions, operation and batch statuses, cancellation.
// Its tasks are ordinary task aggregates that name the batch.
const AggBatch Aggregate = "batch"

// Batch events. BatchCreated holds the whole validated spec; every later
// event is either a decision of a coordinator (appended with the batch's
// expected last sequence, so two coordinators never both decide the same
// step) or a request (BatchCancelRequested).
const (
	BatchCreated           Type = "BatchCreated"
	BatchTasksScheduled    Type = "BatchTasksScheduled"
	OperationStatusChanged Type = "OperationStatusChanged"
	BatchStatusChanged     Type = "BatchStatusChanged"
	BatchCancelRequested   Type = "BatchCancelRequested"
)

func init() {
	register(AggBatch, BatchCreated, BatchTasksScheduled, OperationStatusChanged, BatchStatusChanged, BatchCancelRequested)
}

// Operation types of a batch.
const (
	OpServerBatch   = "server_batch"
	OpTaskservBatch = "taskserv_batch"
	OpClusterBatch  = "cluster_batch"
)

// BatchCreatedData is the payload of BatchCreated: the batch as validated,
// with every default resolved, so that folding it needs no configuration.
type BatchCreatedData struct {
	BatchID         string           `json:"batch_id"`
	Name            string           `json:"name"`
	Version         string           `json:"version,omitempty"`
	StorageBackend  string           `json:"storage_backend"`
	ParallelLimit   int              `json:"parallel_limit"`
	RollbackEnabled bool             `json:"rollback_enabled"`
	Infra           string           `json:"infra"`
	Settings        string           `json:"settings,omitempty"`
	Operations      []BatchOperation `json:"operations"`
}

// BatchOperation is one operation of a batch with its expansion inputs:
// one task per ServerConfigs entry (server_batch), per Taskservs entry in
// order (taskserv_batch) or per Clusters entry (cluster_batch). Infra and
// Settings are resolved (the operation's own, else the batch's).
type BatchOperation struct {
	ID            string              `json:"id"`
	Type          string              `json:"type"`
	Provider      string              `json:"provider,omitempty"`
	Dependencies  []string            `json:"dependencies"`
	Infra         string              `json:"infra"`
	Settings      string              `json:"settings,omitempty"`
	ServerConfigs []map[string]string `json:"server_configs,omitempty"`
	Taskservs     []string            `json:"taskservs,omitempty"`
	Clusters      []string            `json:"clusters,omitempty"`
}

// ScheduledTask names one task a coordinator decided to start: the
// Index-th task of operation OperationID, or, when Compensates is set, the
// compensation (the CLI's delete) of that earlier task of the batch.
type ScheduledTask struct {
	TaskID      string `json:"task_id"`
	OperationID string `json:"operation_id"`
	Index       int    `json:"index"`
	Compensates string `json:"compensates,omitempty"`
}

// BatchTasksScheduledData is the payload of BatchTasksScheduled. Once it
// is stored, each task is created (TaskCreated with ExpectLast(0)) by the
// coordinator that decided it, or by any coordinator after a crash.
type BatchTasksScheduledData struct {
	BatchID string          `json:"batch_id"`
	Tasks   []ScheduledTask `json:"tasks"`
}

// OperationStatusChangedData is the payload of OperationStatusChanged:
// Running, Completed, Failed, Skipped, Cancelled or RolledBack.
type OperationStatusChangedData struct {
	BatchID        string  `json:"batch_id"`
	OperationID    string  `json:"operation_id"`
	Status         string  `json:"status"`
	Progress       float64 `json:"progress"`
	CompletedTasks int     `json:"completed_tasks"`
	TotalTasks     int     `json:"total_tasks"`
}

// BatchStatusChangedData is the payload of BatchStatusChanged: the final
// status (Completed, Failed, Cancelled or RolledBack; a batch is Running
// from BatchCreated on) and, when it did not complete, why.
type BatchStatusChangedData struct {
	BatchID  string  `json:"batch_id"`
	Status   string  `json:"status"`
	Progress float64 `json:"progress"`
	Error    string  `json:"error,omitempty"`
}

// BatchCancelRequestedData is the payload of BatchCancelRequested.
type BatchCancelRequestedData struct {
	BatchID string `json:"batch_id"`
	Reason  string `json:"reason,omitempty"`
}
