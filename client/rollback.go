package client

import (
	"context"
	"iter"
	"net/http"
	"time"
)

// CheckpointRequest is the body of POST /rollback/checkpoints.
type CheckpointRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Checkpoint is a checkpoint as GET /rollback/checkpoints/{id} shows it
// (the list leaves OperationsCount out).
type Checkpoint struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Description     string    `json:"description"`
	CreatedAt       time.Time `json:"created_at"`
	Size            string    `json:"size"`
	OperationsCount int       `json:"operations_count,omitempty"`
}

// RollbackRequest is the body of POST /rollback/execute: either a
// checkpoint (compensate everything completed after it) or the operations
// (tasks) to compensate.
type RollbackRequest struct {
	CheckpointID string   `json:"checkpoint_id,omitempty"`
	OperationIDs []string `json:"operation_ids,omitempty"`
}

// RollbackResult is the answer of POST /rollback/execute. Duration is in
// seconds. Status is Completed or Failed, or Running when the server
// answered (202) before the rollback ended: it goes on, and
// WorkflowProgress(RollbackID) follows it.
type RollbackResult struct {
	RollbackID         string  `json:"rollback_id"`
	Success            bool    `json:"success"`
	OperationsExecuted int     `json:"operations_executed"`
	OperationsFailed   int     `json:"operations_failed"`
	Duration           float64 `json:"duration"`
	Status             string  `json:"status,omitempty"`
	OperationsTotal    int     `json:"operations_total,omitempty"`
}

// RollbackStatistics is GET /rollback/statistics. Times are in seconds,
// SuccessRate in percent.
type RollbackStatistics struct {
	TotalCheckpoints    int     `json:"total_checkpoints"`
	TotalRollbacks      int     `json:"total_rollbacks"`
	SuccessRate         float64 `json:"success_rate"`
	AverageRollbackTime float64 `json:"average_rollback_time"`
}

// CreateCheckpoint records a checkpoint and returns its id.
func (c *Client) CreateCheckpoint(ctx context.Context, req CheckpointRequest, opts ...CallOption) (string, error) {
	var id string
	r := apply(request{api: orchestratorAPI, method: http.MethodPost, path: "/rollback/checkpoints", body: req}, opts)
	_, err := c.do(ctx, r, &id)
	return id, err
}

// ListCheckpoints returns one page of checkpoints.
func (c *Client) ListCheckpoints(ctx context.Context, o ListOptions) (*Page[Checkpoint], error) {
	return list[Checkpoint](ctx, c, orchestratorAPI, "/rollback/checkpoints", o.query(nil))
}

// Checkpoints iterates over every checkpoint.
func (c *Client) Checkpoints(ctx context.Context, o ListOptions) iter.Seq2[Checkpoint, error] {
	return all[Checkpoint](ctx, c, orchestratorAPI, "/rollback/checkpoints", o.query(nil))
}

// GetCheckpoint returns one checkpoint.
func (c *Client) GetCheckpoint(ctx context.Context, id string) (*Checkpoint, error) {
	var cp Checkpoint
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: pathf("/rollback/checkpoints/%s", id)}, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// ExecuteRollback runs a rollback and returns its result.
func (c *Client) ExecuteRollback(ctx context.Context, req RollbackRequest, opts ...CallOption) (*RollbackResult, error) {
	var out RollbackResult
	r := apply(request{api: orchestratorAPI, method: http.MethodPost, path: "/rollback/execute", body: req}, opts)
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RestoreCheckpoint sets the views back to a checkpoint (POST
// /rollback/restore/{id}) and returns the server's message.
func (c *Client) RestoreCheckpoint(ctx context.Context, id string) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodPost, path: pathf("/rollback/restore/%s", id)}, &m)
	return string(m), err
}

// RollbackStatistics returns the rollback statistics.
func (c *Client) RollbackStatistics(ctx context.Context) (*RollbackStatistics, error) {
	var s RollbackStatistics
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: "/rollback/statistics"}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
