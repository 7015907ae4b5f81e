package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Task statuses (tasks and batches; batches also end RolledBack,
// operations also Skipped).
const (
	StatusPending    = "Pending"
	StatusRunning    = "Running"
	StatusCompleted  = "Completed"
	StatusFailed     = "Failed"
	StatusCancelled  = "Cancelled"
	StatusSkipped    = "Skipped"
	StatusRolledBack = "RolledBack"
)

// Terminal reports whether a status is final. It ignores case: the
// reference's WebSocket example writes statuses in lower case.
func Terminal(status string) bool {
	switch strings.ToLower(status) {
	case "completed", "failed", "cancelled", "skipped", "rolledback":
		return true
	}
	return false
}

// Task is a task as GET /tasks/{id} shows it.
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

	// Beyond the reference: what the orchestrator adds to the view.
	Workflow        string  `json:"workflow,omitempty"`
	Operation       string  `json:"operation,omitempty"`
	Progress        float64 `json:"progress"`
	CurrentStep     *string `json:"current_step,omitempty"`
	TotalSteps      int     `json:"total_steps,omitempty"`
	CompletedSteps  int     `json:"completed_steps,omitempty"`
	Attempts        int     `json:"attempts,omitempty"`
	CancelRequested bool    `json:"cancel_requested,omitempty"`
	TimeoutSeconds  int     `json:"timeout_seconds,omitempty"`
	BatchID         string  `json:"batch_id,omitempty"`
	OperationID     string  `json:"operation_id,omitempty"`
	Compensates     string  `json:"compensates,omitempty"`
}

// TaskFilter selects tasks of GET /tasks.
type TaskFilter struct {
	// Status is one of Pending, Running, Completed, Failed, Cancelled.
	Status string
	// BatchID keeps the tasks of one batch.
	BatchID string
	ListOptions
}

func (f TaskFilter) query() url.Values {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.BatchID != "" {
		q.Set("batch_id", f.BatchID)
	}
	return f.ListOptions.query(q)
}

// Health asks the orchestrator whether it is up (GET /health, no token).
func (c *Client) Health(ctx context.Context) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: "/health", anonymous: true}, &m)
	return string(m), err
}

// ListTasks returns one page of tasks (GET /tasks).
func (c *Client) ListTasks(ctx context.Context, f TaskFilter) (*Page[Task], error) {
	return list[Task](ctx, c, orchestratorAPI, "/tasks", f.query())
}

// Tasks iterates over every task the filter selects, from f.Offset on,
// fetching f.Limit at a time.
func (c *Client) Tasks(ctx context.Context, f TaskFilter) iter.Seq2[Task, error] {
	return all[Task](ctx, c, orchestratorAPI, "/tasks", f.query())
}

// GetTask returns one task (GET /tasks/{id}); ErrNotFound when unknown.
func (c *Client) GetTask(ctx context.Context, id string) (*Task, error) {
	var t Task
	if _, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodGet, path: pathf("/tasks/%s", id)}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// CancelTask cancels a task (POST /tasks/{id}/cancel) and returns the
// server's message. Stopped is false when the server accepted the request
// (202) but the task was still stopping when it answered. ErrConflict
// when the task had finished already.
func (c *Client) CancelTask(ctx context.Context, id string) (msg string, stopped bool, err error) {
	var m message
	res, err := c.do(ctx, request{api: orchestratorAPI, method: http.MethodPost, path: pathf("/tasks/%s/cancel", id)}, &m)
	return string(m), err == nil && res.status != http.StatusAccepted, err
}

// ServersRequest is the body of POST /workflows/servers/create.
type ServersRequest struct {
	Infra     string `json:"infra"`
	Settings  string `json:"settings,omitempty"`
	CheckMode bool   `json:"check_mode"`
	Wait      bool   `json:"wait"`
}

// TaskservRequest is the body of POST /workflows/taskserv/create.
// Operation is "create" (the default) or "delete".
type TaskservRequest struct {
	Operation string `json:"operation,omitempty"`
	Taskserv  string `json:"taskserv"`
	Infra     string `json:"infra"`
	Settings  string `json:"settings,omitempty"`
	CheckMode bool   `json:"check_mode"`
	Wait      bool   `json:"wait"`
}

// ClusterRequest is the body of POST /workflows/cluster/create.
// Operation is "create" (the default) or "delete".
type ClusterRequest struct {
	Operation   string `json:"operation,omitempty"`
	ClusterType string `json:"cluster_type"`
	Infra       string `json:"infra"`
	Settings    string `json:"settings,omitempty"`
	CheckMode   bool   `json:"check_mode"`
	Wait        bool   `json:"wait"`
}

// CreateServers submits a server workflow and returns the new task's id.
func (c *Client) CreateServers(ctx context.Context, req ServersRequest, opts ...CallOption) (string, error) {
	return c.submit(ctx, "/workflows/servers/create", req, opts)
}

// CreateTaskserv submits a task service workflow and returns the new
// task's id.
func (c *Client) CreateTaskserv(ctx context.Context, req TaskservRequest, opts ...CallOption) (string, error) {
	return c.submit(ctx, "/workflows/taskserv/create", req, opts)
}

// CreateCluster submits a cluster workflow and returns the new task's id.
func (c *Client) CreateCluster(ctx context.Context, req ClusterRequest, opts ...CallOption) (string, error) {
	return c.submit(ctx, "/workflows/cluster/create", req, opts)
}

func (c *Client) submit(ctx context.Context, path string, body any, opts []CallOption) (string, error) {
	var id string
	req := apply(request{api: orchestratorAPI, method: http.MethodPost, path: path, body: body}, opts)
	_, err := c.do(ctx, req, &id)
	return id, err
}
