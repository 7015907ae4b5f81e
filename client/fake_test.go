package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"provisioning/client"
	"provisioning/client/clienttest"
)

func newClient(t *testing.T, orchestrator, control string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(orchestrator, control, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"localhost:9090", "ftp://x", "http://", "http://h/?q=1"} {
		if _, err := client.New(u, ""); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c := newClient(t, "", "http://localhost:9080/")
	if _, err := c.ListTasks(context.Background(), client.TaskFilter{}); err == nil || !strings.Contains(err.Error(), "no URL") {
		t.Errorf("call without an orchestrator URL: %v", err)
	}
}

func TestRefreshNearExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	old := clienttest.Token("admin", now.Add(-55*time.Minute), now.Add(4*time.Minute))
	fresh := clienttest.Token("admin", now, now.Add(time.Hour))

	control := clienttest.New(t)
	control.Handle("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Token string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Token != old {
			clienttest.Fail(w, 401, "token revoked")
			return
		}
		clienttest.OK(w, 200, map[string]any{"token": fresh, "expires_at": now.Add(time.Hour)})
	})
	orch := clienttest.New(t)
	orch.Token = fresh
	orch.Handle("GET /tasks", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, []any{}) })

	var stored atomic.Value
	c := newClient(t, orch.URL, control.URL, client.WithToken(old), client.OnRefresh(func(s client.Session) { stored.Store(s.Token) }))
	if _, err := c.ListTasks(context.Background(), client.TaskFilter{}); err != nil {
		t.Fatalf("call with a token 4 minutes from expiry: %v", err)
	}
	if c.Session().Token != fresh || stored.Load() != fresh {
		t.Errorf("session %q, stored %v; want the refreshed token", c.Session().Token, stored.Load())
	}
	// A fresh token is not refreshed again.
	if _, err := c.ListTasks(context.Background(), client.TaskFilter{}); err != nil {
		t.Fatal(err)
	}
	if n := len(control.Requests()); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
}

func TestExpiredTokenIsNotRefreshed(t *testing.T) {
	t.Parallel()
	now := time.Now()
	control := clienttest.New(t)
	orch := clienttest.New(t)
	orch.Token = "something else"
	orch.Handle("GET /tasks", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, []any{}) })
	c := newClient(t, orch.URL, control.URL, client.WithToken(clienttest.Token("admin", now.Add(-2*time.Hour), now.Add(-time.Hour))))
	if _, err := c.ListTasks(context.Background(), client.TaskFilter{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("expired token: %v", err)
	}
	if n := len(control.Requests()); n != 0 {
		t.Errorf("%d refreshes of an expired token", n)
	}
}

// pagedTasks answers GET /tasks with n tasks, paginated like the server:
// X-Total-Count and a Link to the next page.
func pagedTasks(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		if limit == 0 {
			limit = 50
		}
		items := []map[string]any{}
		for i := offset; i < min(n, offset+limit); i++ {
			items = append(items, map[string]any{"id": fmt.Sprintf("task-%03d", i), "status": "Completed"})
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(n))
		w.Header().Set("X-Limit", strconv.Itoa(limit))
		w.Header().Set("X-Offset", strconv.Itoa(offset))
		if offset+limit < n {
			q := r.URL.Query()
			q.Set("offset", strconv.Itoa(offset+limit))
			w.Header().Set("Link", fmt.Sprintf(`</tasks?%s>; rel="next"`, q.Encode()))
		}
		clienttest.OK(w, 200, items)
	}
}

func TestIteratorFollowsLinks(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t)
	orch.Handle("GET /tasks", pagedTasks(7))
	c := newClient(t, orch.URL, "")
	var ids []string
	for task, err := range c.Tasks(context.Background(), client.TaskFilter{Status: "Completed", ListOptions: client.ListOptions{Limit: 3}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	if len(ids) != 7 || ids[6] != "task-006" {
		t.Errorf("ids = %v", ids)
	}
	reqs := orch.Requests()
	if len(reqs) != 3 || !strings.Contains(reqs[2].Query, "status=Completed") || !strings.Contains(reqs[2].Query, "offset=6") {
		t.Errorf("requests = %+v", reqs)
	}

	// Breaking out early fetches no further page.
	orch2 := clienttest.New(t)
	orch2.Handle("GET /tasks", pagedTasks(100))
	c2 := newClient(t, orch2.URL, "")
	for _, err := range c2.Tasks(context.Background(), client.TaskFilter{ListOptions: client.ListOptions{Limit: 10}}) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if n := len(orch2.Requests()); n != 1 {
		t.Errorf("%d pages fetched for one item", n)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	orch := clienttest.New(t)
	busy := func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 1 {
			w.Header().Set("Retry-After", "0")
			clienttest.Fail(w, 503, "the view is still catching up with the event stream; retry shortly")
			return
		}
		clienttest.OK(w, 200, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	}
	orch.Handle("GET /health", busy)
	orch.Handle("POST /workflows/servers/create", busy)
	c := newClient(t, orch.URL, "")
	ctx := context.Background()

	if _, err := c.Health(ctx); err != nil {
		t.Errorf("GET after a 503: %v", err)
	}
	calls.Store(0)
	_, err := c.CreateServers(ctx, client.ServersRequest{Infra: "prod"})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.RetryAfter != 0 || !strings.Contains(apiErr.Message, "catching up") {
		t.Errorf("POST without a key is not retried: %v", err)
	}
	calls.Store(0)
	if id, err := c.CreateServers(ctx, client.ServersRequest{Infra: "prod"}, client.WithIdempotencyKey("k1")); err != nil || id == "" {
		t.Errorf("POST with a key after a 503: %q, %v", id, err)
	}
	if got := orch.Requests()[len(orch.Requests())-1].Header.Get("Idempotency-Key"); got != "k1" {
		t.Errorf("Idempotency-Key = %q", got)
	}
}

func TestAnswersThatAreNotEnvelopes(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t)
	orch.Handle("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		fmt.Fprint(w, "<html>Bad Gateway</html>")
	})
	c := newClient(t, orch.URL, "", client.WithRetries(0))
	_, err := c.GetTask(context.Background(), "x/../../users")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || !strings.Contains(apiErr.Message, "not a provisioning envelope") {
		t.Errorf("HTML answer: %v", err)
	}
	if p := orch.Requests()[0].EscapedPath; p != "/tasks/x%2F..%2F..%2Fusers" {
		t.Errorf("an id with slashes reached %s", p)
	}
}

// TestBatchStateRollbackWebhooks calls the routes of the reference that
// other branches build, against answers copied from the reference.
func TestBatchStateRollbackWebhooks(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t)
	orch.Token = "tok"
	orch.Handle("POST /batch/execute", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req["name"] != "multi_cloud_deployment" {
			clienttest.Fail(w, 400, "bad body")
			return
		}
		ops := req["operations"].([]any)
		if deps := ops[0].(map[string]any)["dependencies"]; deps == nil {
			clienttest.Fail(w, 422, "dependencies sent as null")
			return
		}
		clienttest.OK(w, 200, map[string]any{"batch_id": "b1", "status": "Running", "operations": []any{
			map[string]any{"id": "upcloud_servers", "status": "Pending", "progress": 0.0},
			map[string]any{"id": "aws_taskservs", "status": "Pending", "progress": 0.0}}})
	})
	orch.Handle("GET /batch/operations/{id}", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"batch_id": r.PathValue("id"), "name": "multi_cloud_deployment", "status": "Running",
			"operations": []any{map[string]any{"id": "upcloud_servers", "status": "Completed", "progress": 100.0, "results": map[string]any{"servers": 2}}}})
	})
	orch.Handle("GET /batch/operations", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, []any{map[string]any{"batch_id": "b1", "name": "multi_cloud_deployment", "status": "Running", "created_at": "2025-09-26T10:00:00Z", "operations": []any{}}})
	})
	orch.Handle("POST /batch/operations/{id}/cancel", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, "Operation cancelled") })
	orch.Handle("GET /state/workflows/{id}/progress", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"workflow_id": r.PathValue("id"), "progress": 75.5, "current_step": "Installing Kubernetes",
			"total_steps": 8, "completed_steps": 6, "estimated_time_remaining": 180})
	})
	orch.Handle("GET /state/system/metrics", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"total_workflows": 150, "active_workflows": 5, "completed_workflows": 140, "failed_workflows": 5,
			"system_load": map[string]any{"cpu_usage": 45.2, "memory_usage": 2048, "disk_usage": 75.5}})
	})
	orch.Handle("POST /rollback/checkpoints", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, "checkpoint-uuid") })
	orch.Handle("POST /rollback/execute", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		if _, both := req["checkpoint_id"]; both && req["operation_ids"] != nil {
			clienttest.Fail(w, 422, "both")
			return
		}
		clienttest.OK(w, 200, map[string]any{"rollback_id": "rollback-uuid", "success": true, "operations_executed": 25, "operations_failed": 0, "duration": 45.5})
	})
	orch.Handle("POST /webhooks", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 201, map[string]any{"id": "wh1", "url": "https://example.com/hook", "events": []string{"task.completed"}, "secret": "whsec_x"})
	})

	c := newClient(t, orch.URL, "", client.WithToken("tok"))
	ctx := context.Background()
	limit := 5
	created, err := c.ExecuteBatch(ctx, client.BatchRequest{Name: "multi_cloud_deployment", Version: "1.0.0", StorageBackend: "surrealdb",
		ParallelLimit: &limit, RollbackEnabled: true, Operations: []client.OperationRequest{
			{ID: "upcloud_servers", Type: client.ServerBatch, Provider: "upcloud", ServerConfigs: []map[string]string{{"name": "web-01"}}},
			{ID: "aws_taskservs", Type: client.TaskservBatch, Provider: "aws", Dependencies: []string{"upcloud_servers"}, Taskservs: []string{"kubernetes"}},
		}})
	if err != nil || created.BatchID != "b1" || len(created.Operations) != 2 {
		t.Fatalf("execute = %+v, %v", created, err)
	}
	b, err := c.GetBatch(ctx, "b1")
	if err != nil || b.Operations[0].Progress != 100 || string(b.Operations[0].Results) != `{"servers":2}` {
		t.Errorf("batch = %+v, %v", b, err)
	}
	page, err := c.ListBatches(ctx, client.ListOptions{})
	if err != nil || len(page.Items) != 1 || page.Items[0].CreatedAt.IsZero() || page.Total != -1 || page.More() {
		t.Errorf("batches = %+v, %v", page, err)
	}
	if msg, err := c.CancelBatch(ctx, "b1"); err != nil || msg != "Operation cancelled" {
		t.Errorf("cancel = %q, %v", msg, err)
	}
	p, err := c.WorkflowProgress(ctx, "b1")
	if err != nil || p.Progress != 75.5 || *p.CurrentStep != "Installing Kubernetes" || *p.EstimatedTimeRemaining != 180 {
		t.Errorf("progress = %+v, %v", p, err)
	}
	m, err := c.SystemMetrics(ctx)
	if err != nil || m.SystemLoad.MemoryUsage != 2048 {
		t.Errorf("metrics = %+v, %v", m, err)
	}
	if id, err := c.CreateCheckpoint(ctx, client.CheckpointRequest{Name: "before_major_update"}); err != nil || id != "checkpoint-uuid" {
		t.Errorf("checkpoint = %q, %v", id, err)
	}
	r, err := c.ExecuteRollback(ctx, client.RollbackRequest{OperationIDs: []string{"op-1"}})
	if err != nil || r.OperationsExecuted != 25 || r.Duration != 45.5 {
		t.Errorf("rollback = %+v, %v", r, err)
	}
	wh, err := c.CreateWebhook(ctx, client.WebhookRequest{URL: "https://example.com/hook", Events: []string{"task.completed"}})
	if err != nil || wh.Secret != "whsec_x" {
		t.Errorf("webhook = %+v, %v", wh, err)
	}
}
