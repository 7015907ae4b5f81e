package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"time"
)

// Operation types of a batch.
const (
	ServerBatch   = "server_batch"
	TaskservBatch = "taskserv_batch"
	ClusterBatch  = "cluster_batch"
)

// BatchRequest is the body of POST /batch/execute. ParallelLimit nil means
// the server's default. Infra and Settings (beyond the reference) apply to
// every operation that does not set its own.
type BatchRequest struct {
	Name            string             `json:"name" toml:"name"`
	Version         string             `json:"version,omitempty" toml:"version"`
	StorageBackend  string             `json:"storage_backend,omitempty" toml:"storage_backend"`
	ParallelLimit   *int               `json:"parallel_limit,omitempty" toml:"parallel_limit"`
	RollbackEnabled bool               `json:"rollback_enabled" toml:"rollback_enabled"`
	Infra           string             `json:"infra,omitempty" toml:"infra"`
	Settings        string             `json:"settings,omitempty" toml:"settings"`
	Operations      []OperationRequest `json:"operations" toml:"operations"`
}

// OperationRequest is one operation of a batch: one task per entry of
// ServerConfigs (server_batch), of Taskservs in order (taskserv_batch) or
// of Clusters (cluster_batch). It starts when every operation named in
// Dependencies has completed.
type OperationRequest struct {
	ID            string              `json:"id" toml:"id"`
	Type          string              `json:"type" toml:"type"`
	Provider      string              `json:"provider,omitempty" toml:"provider"`
	Dependencies  []string            `json:"dependencies" toml:"dependencies"`
	Infra         string              `json:"infra,omitempty" toml:"infra"`
	Settings      string              `json:"settings,omitempty" toml:"settings"`
	ServerConfigs []map[string]string `json:"server_configs,omitempty" toml:"server_configs"`
	Taskservs     []string            `json:"taskservs,omitempty" toml:"taskservs"`
	Clusters      []string            `json:"clusters,omitempty" toml:"clusters"`
}

// MarshalJSON sends dependencies as [] rather than null.
func (o OperationRequest) MarshalJSON() ([]byte, error) {
	type plain OperationRequest
	if o.Dependencies == nil {
		o.Dependencies = []string{}
	}
	return json.Marshal(plain(o))
}

// BatchCreated is the answer of POST /batch/execute.
type BatchCreated struct {
	BatchID    string            `json:"batch_id"`
	Status     string            `json:"status"`
	Operations []OperationStatus `json:"operations"`
}

// OperationStatus is an operation of a batch as the batch views show it.
type OperationStatus struct {
	ID       string  `json:"id"`
	Type     string  `json:"type,omitempty"`
	Status   string  `json:"status"`
	Progress float64 `json:"progress"`
	// Results is what the operation's tasks produced, as the server
	// shaped it.
	Results json.RawMessage `json:"results,omitempty"`
	// Tasks are the ids of the operation's tasks, when the server lists
	// them.
	Tasks []string `json:"tasks,omitempty"`
}

// Batch is a batch as GET /batch/operations/{id} shows it.
type Batch struct {
	BatchID    string            `json:"batch_id"`
	Name       string            `json:"name"`
	Version    string            `json:"version,omitempty"`
	Status     string            `json:"status"`
	CreatedAt  time.Time         `json:"created_at"`
	Error      string            `json:"error,omitempty"`
	Operations []OperationStatus `json:"operations"`
}

// ExecuteBatch submits a batch (POST /batch/execute).
func (c *Client) ExecuteBatch(ctx context.Context, req BatchRequest, opts ...CallOption) (*BatchCreated, error) {
	var out BatchCreated
	r := apply(request{api: orchestratorAPI, method: http.MethodPost, path: "/batch/execute", body: req}, opts)
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListBatches returns one page of batches (GET /batch/operations).
func (c *Client) ListBatches(ctx context.Context, o ListOptions) (*Page[Batch], error) {
	return list[Batch](ctx, c, orchestratorAPI, "/batch/operations", o.query(nil))
}

// Batches iterates over every batch.
func (c *Client) Batches(ctx context.Context, o ListOptions) iter.Seq2[Batch, error] {
	return all[Batch](ctx, c, orchestratorAPI, "/batch/operations", o.query(nil))
}

// GetBatch returns one batch (GET /batch/operations/{id}).
func (c *Client) GetBatch(ctx context.Context, id string) (*Batch, error) {
	var b Batch
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: pathf("/batch/operations/%s", id)}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// CancelBatch cancels a batch (POST /batch/operations/{id}/cancel) and
// returns the server's message.
func (c *Client) CancelBatch(ctx context.Context, id string) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodPost, path: pathf("/batch/operations/%s/cancel", id)}, &m)
	return string(m), err
}

// Progress is GET /state/workflows/{id}/progress of a task or a batch.
type Progress struct {
	WorkflowID     string  `json:"workflow_id"`
	Progress       float64 `json:"progress"`
	CurrentStep    *string `json:"current_step"`
	TotalSteps     int     `json:"total_steps"`
	CompletedSteps int     `json:"completed_steps"`
	// EstimatedTimeRemaining is in seconds; nil when unknown.
	EstimatedTimeRemaining *float64 `json:"estimated_time_remaining"`
	Status                 string   `json:"status,omitempty"`
}

// Snapshot is the state of a workflow at one status change.
type Snapshot struct {
	SnapshotID string          `json:"snapshot_id"`
	Timestamp  time.Time       `json:"timestamp"`
	State      string          `json:"state"`
	Details    json.RawMessage `json:"details"`
}

// SystemMetrics is GET /state/system/metrics.
type SystemMetrics struct {
	TotalWorkflows     int `json:"total_workflows"`
	ActiveWorkflows    int `json:"active_workflows"`
	CompletedWorkflows int `json:"completed_workflows"`
	FailedWorkflows    int `json:"failed_workflows"`
	SystemLoad         struct {
		CPUUsage    float64 `json:"cpu_usage"`
		MemoryUsage float64 `json:"memory_usage"`
		DiskUsage   float64 `json:"disk_usage"`
	} `json:"system_load"`
}

// SystemHealth is GET /state/system/health (no token needed).
type SystemHealth struct {
	OverallStatus string            `json:"overall_status"`
	Components    map[string]string `json:"components"`
	LastCheck     time.Time         `json:"last_check"`
}

// StateStatistics is GET /state/statistics.
type StateStatistics struct {
	TotalWorkflows          int     `json:"total_workflows"`
	ActiveSnapshots         int     `json:"active_snapshots"`
	StorageUsage            string  `json:"storage_usage"`
	AverageWorkflowDuration float64 `json:"average_workflow_duration"`
}

// WorkflowProgress returns the progress of a task or batch.
func (c *Client) WorkflowProgress(ctx context.Context, id string) (*Progress, error) {
	var p Progress
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: pathf("/state/workflows/%s/progress", id)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// WorkflowSnapshots returns one page of a workflow's snapshots.
func (c *Client) WorkflowSnapshots(ctx context.Context, id string, o ListOptions) (*Page[Snapshot], error) {
	return list[Snapshot](ctx, c, orchestratorAPI, pathf("/state/workflows/%s/snapshots", id), o.query(nil))
}

// SystemMetrics returns the system-wide metrics.
func (c *Client) SystemMetrics(ctx context.Context) (*SystemMetrics, error) {
	var m SystemMetrics
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: "/state/system/metrics"}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// SystemHealth returns the health of the orchestrator's components.
func (c *Client) SystemHealth(ctx context.Context) (*SystemHealth, error) {
	var h SystemHealth
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: "/state/system/health", anonymous: true}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// StateStatistics returns the state manager's statistics.
func (c *Client) StateStatistics(ctx context.Context) (*StateStatistics, error) {
	var s StateStatistics
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: "/state/statistics"}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
