package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"provisioning/cli"
	"provisioning/client/clienttest"
)

// fake is an orchestrator and a control center answering like the
// reference, for the routes main does not serve yet.
func fake(t *testing.T) (orch, control *clienttest.Server, tm *term) {
	t.Helper()
	orch, control = clienttest.New(t), clienttest.New(t)
	orch.Token = "tok"
	tm = newTerm(t, orch.URL, control.URL)
	tm.env["PROVISIONING_TOKEN"] = "tok"
	return orch, control, tm
}

func frame(typ string, seq uint64, data map[string]any) clienttest.Frame {
	return clienttest.Frame{EventType: typ, Seq: seq, Data: data}
}

// script sends frames on every connection, then waits for the client to
// hang up.
func script(frames ...clienttest.Frame) func(context.Context, *clienttest.Stream) error {
	return func(ctx context.Context, st *clienttest.Stream) error {
		for _, f := range frames {
			if err := st.Send(ctx, f); err != nil {
				return err
			}
		}
		<-ctx.Done()
		return nil
	}
}

func TestWatchTaskOverWebSocket(t *testing.T) {
	t.Parallel()
	orch, _, tm := fake(t)
	running := map[string]any{"id": "t1", "name": "create_servers", "status": "Running", "progress": 10, "created_at": time.Now()}
	orch.Handle("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, running) })
	queries := make(chan map[string]string, 1)
	orch.WS(func(ctx context.Context, st *clienttest.Stream) error {
		queries <- st.Query
		return script(
			frame("TaskProgress", 5, map[string]any{"task_id": "other", "progress": 99}),
			frame("TaskProgress", 6, map[string]any{"task_id": "t1", "progress": 40, "step": "Installing Kubernetes"}),
			frame("TaskStatusChanged", 7, map[string]any{"task_id": "t1", "status": "completed"}),
		)(ctx, st)
	})
	r := tm.run("", "watch", "t1")
	if r.code != 0 {
		t.Fatalf("watch: %+v", r)
	}
	if q := <-queries; q["task_id"] != "t1" {
		t.Errorf("subscribed with %v", q)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "40% Installing Kubernetes") || strings.Contains(r.stdout, "99%") ||
		!strings.Contains(lines[2], "task t1 (create_servers) Completed") {
		t.Errorf("watch output:\n%s", r.stdout)
	}
}

func TestWatchBatchFailsWithExitOne(t *testing.T) {
	t.Parallel()
	orch, _, tm := fake(t)
	orch.Handle("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) { clienttest.Fail(w, 404, "task b1 not found") })
	orch.Handle("GET /batch/operations/{id}", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"batch_id": "b1", "name": "multi_cloud_deployment", "status": "Running", "operations": []any{
			map[string]any{"id": "upcloud_servers", "status": "Running", "progress": 0.0},
			map[string]any{"id": "aws_taskservs", "status": "Pending", "progress": 0.0}}})
	})
	orch.WS(script(
		frame("TaskCreated", 1, map[string]any{"task_id": "t1", "batch_id": "b1", "operation_id": "upcloud_servers", "name": "create_server_web-01"}),
		frame("TaskCreated", 2, map[string]any{"task_id": "t2", "batch_id": "b1", "operation_id": "upcloud_servers", "name": "create_server_web-02"}),
		frame("OperationStatusChanged", 3, map[string]any{"batch_id": "b1", "operation_id": "upcloud_servers", "status": "Running", "total_tasks": 2}),
		frame("TaskProgress", 4, map[string]any{"task_id": "t1", "batch_id": "b1", "progress": 100, "step": "Booting"}),
		frame("TaskProgress", 5, map[string]any{"task_id": "t2", "batch_id": "b1", "progress": 50, "step": "Attaching storage"}),
		frame("OperationStatusChanged", 6, map[string]any{"batch_id": "b1", "operation_id": "upcloud_servers", "status": "Failed"}),
		frame("OperationStatusChanged", 7, map[string]any{"batch_id": "b1", "operation_id": "aws_taskservs", "status": "Skipped"}),
		frame("BatchStatusChanged", 8, map[string]any{"batch_id": "b1", "status": "Failed", "error": "operation upcloud_servers failed"}),
	))
	r := tm.run("", "watch", "b1")
	if r.code != cli.ExitFailed {
		t.Fatalf("watch of a failing batch: %+v", r)
	}
	if !strings.Contains(r.stdout, "upcloud_servers Running 75% Attaching storage") ||
		!strings.Contains(r.stdout, "aws_taskservs Skipped") ||
		!strings.Contains(r.stdout, "batch b1 (multi_cloud_deployment) Failed") ||
		!strings.Contains(r.stdout, "operation upcloud_servers failed") {
		t.Errorf("watch output:\n%s", r.stdout)
	}

	// -o json: the frames as JSON lines, then the result.
	r = tm.run("", "watch", "b1", "--batch", "-o", "json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var last map[string]any
	if r.code != cli.ExitFailed || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil || last["status"] != "Failed" || last["completed"] != false {
		t.Errorf("watch -o json: %+v", r)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("not JSON: %s", l)
		}
	}
}

func TestWatchWithoutWebSocket(t *testing.T) {
	t.Parallel()
	orch, _, tm := fake(t)
	orch.Handle("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"id": "t1", "name": "x", "status": "Running"})
	})
	r := tm.expect(cli.ExitUnavailable, "watch", "t1")
	if !strings.Contains(r.stderr, "/ws answered 404") {
		t.Errorf("stderr: %s", r.stderr)
	}
	_, _, empty := fake(t)
	r = empty.expect(cli.ExitNotFound, "watch", "nothing")
	if !strings.Contains(r.stderr, "no task or batch nothing") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestEventsTail(t *testing.T) {
	t.Parallel()
	orch, _, tm := fake(t)
	queries := make(chan map[string]string, 2)
	orch.WS(func(ctx context.Context, st *clienttest.Stream) error {
		queries <- st.Query
		return script(
			frame("TaskCreated", 41, map[string]any{"task_id": "t1", "name": "create_servers"}),
			frame("TaskStatusChanged", 42, map[string]any{"task_id": "t1", "status": "Running"}),
		)(ctx, st)
	})
	out := tm.ok("events", "tail", "--since", "41", "--type", "TaskCreated,TaskStatusChanged", "--task", "t1", "-n", "2")
	q := <-queries
	if q["since"] != "41" || q["events"] != "TaskCreated,TaskStatusChanged" || q["task_id"] != "t1" {
		t.Errorf("query %v", q)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "41 ") || !strings.Contains(lines[1], "status=Running task_id=t1") {
		t.Errorf("events tail:\n%s", out)
	}
	out = tm.ok("events", "tail", "-n", "1", "-o", "json")
	var ev struct {
		EventType string `json:"event_type"`
		Seq       uint64 `json:"seq"`
	}
	if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.EventType != "TaskCreated" || ev.Seq != 41 {
		t.Errorf("events tail -o json: %s %v", out, err)
	}
}

func TestBatchSubmit(t *testing.T) {
	t.Parallel()
	orch, _, tm := fake(t)
	var got map[string]any
	orch.Handle("POST /batch/execute", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		if r.Header.Get("Idempotency-Key") != "deploy-7" {
			clienttest.Fail(w, 400, "no key")
			return
		}
		clienttest.OK(w, 200, map[string]any{"batch_id": "b1", "status": "Running", "operations": []any{}})
	})
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("batch.toml", `
name = "multi_cloud_deployment"
version = "1.0.0"
storage_backend = "surrealdb"
parallel_limit = 5
rollback_enabled = true

[[operations]]
id = "upcloud_servers"
type = "server_batch"
provider = "upcloud"
dependencies = []
server_configs = [
  {name = "web-01", plan = "1xCPU-2 GB", zone = "de-fra1"},
  {name = "web-02", plan = "1xCPU-2 GB", zone = "us-nyc1"}
]

[[operations]]
id = "aws_taskservs"
type = "taskserv_batch"
provider = "aws"
dependencies = ["upcloud_servers"]
taskservs = ["kubernetes", "cilium", "containerd"]
`)
	if out := tm.ok("batch", "submit", "-f", good, "--dry-run"); !strings.Contains(out, "is valid: 2 operations, 5 tasks") {
		t.Errorf("dry run: %s", out)
	}
	if len(orch.Requests()) != 0 {
		t.Fatal("a dry run sent something")
	}
	if out := tm.ok("batch", "submit", "-f", good, "--idempotency-key", "deploy-7"); strings.TrimSpace(out) != "b1" {
		t.Errorf("submit printed %q", out)
	}
	ops := got["operations"].([]any)
	if got["parallel_limit"] != 5.0 || len(ops) != 2 || ops[0].(map[string]any)["server_configs"].([]any)[1].(map[string]any)["zone"] != "us-nyc1" {
		t.Errorf("sent %v", got)
	}

	tests := []struct {
		name, file string
		want       []string
	}{
		{"unknown field and wrong type", `{"name": "b", "paralel_limit": 5, "operations": [{"id": "a", "type": "server_batch", "server_configs": [{"name": 1}]}]}`,
			[]string{"paralel_limit: is not a field of", "operations[0].server_configs[0].name: must be a string"}},
		{"missing ids and unknown dependency", `{"name": "b", "operations": [{"type": "taskserv_batch", "taskservs": ["k"]}, {"id": "b", "type": "cluster_batch", "clusters": ["c"], "dependencies": ["nope"]}]}`,
			[]string{"operations[0].id: is required", `operations[1].dependencies[0]: names unknown operation "nope"`}},
		{"cycle", `{"name": "b", "operations": [{"id": "a", "type": "cluster_batch", "clusters": ["c"], "dependencies": ["b"]}, {"id": "b", "type": "cluster_batch", "clusters": ["d"], "dependencies": ["a"]}]}`,
			[]string{"operations: cycle: "}},
		{"bounds and enums", `{"name": "-x", "storage_backend": "s3", "parallel_limit": 0, "operations": [{"id": "a", "type": "vm_batch"}]}`,
			[]string{"name: must start with a letter or digit", "storage_backend: must be one of jetstream, filesystem, surrealdb",
				"parallel_limit: must be from 1 to 1000, not 0", "operations[0].type: must be one of server_batch"}},
		{"empty", `{"name": "b", "operations": []}`, []string{"operations: is required"}},
		{"not json", `{"name": `, []string{"not valid JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tm.expect(cli.ExitInvalid, "batch", "submit", "-f", write(strings.ReplaceAll(tc.name, " ", "_")+".json", tc.file))
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if n := len(orch.Requests()); n != 1 {
		t.Errorf("%d requests; invalid files must send nothing", n)
	}
	tm.expect(cli.ExitUsage, "batch", "submit")
	tm.expect(cli.ExitUsage, "batch", "submit", "-f", filepath.Join(dir, "missing.json"))
}

func TestServerValidationErrorsShowFields(t *testing.T) {
	t.Parallel()
	orch, _, tm := fake(t)
	orch.Handle("POST /rollback/execute", func(w http.ResponseWriter, r *http.Request) {
		clienttest.FailFields(w, "validation failed", map[string]string{"checkpoint_id": "names no checkpoint"})
	})
	r := tm.expect(cli.ExitInvalid, "rollback", "--checkpoint", "nope")
	if !strings.Contains(r.stderr, "error: validation failed (HTTP 422)\n  checkpoint_id: names no checkpoint") {
		t.Errorf("stderr: %s", r.stderr)
	}
	tm.expect(cli.ExitUsage, "rollback", "--checkpoint", "a", "--operations", "b")
	tm.expect(cli.ExitUsage, "rollback")
}

func TestRollbackCheckpointAndWebhooksOutput(t *testing.T) {
	t.Parallel()
	orch, _, tm := fake(t)
	orch.Handle("POST /rollback/checkpoints", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, "checkpoint-uuid") })
	orch.Handle("GET /rollback/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, []any{map[string]any{"id": "checkpoint-uuid", "name": "before_major_update",
			"description": "Checkpoint before deploying v2.0.0", "created_at": "2025-09-26T10:00:00Z", "size": "150 MB"}})
	})
	orch.Handle("POST /rollback/execute", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"rollback_id": "rollback-uuid", "success": false, "operations_executed": 25, "operations_failed": 2, "duration": 45.5})
	})
	orch.Handle("POST /webhooks", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 201, map[string]any{"id": "wh1", "url": "https://example.com/hook", "events": []string{"task.completed", "task.failed"}, "secret": "whsec_1"})
	})
	if out := tm.ok("checkpoint", "create", "before_major_update", "--description", "v2"); strings.TrimSpace(out) != "checkpoint-uuid" {
		t.Errorf("checkpoint create: %q", out)
	}
	if out := tm.ok("checkpoint", "ls"); !strings.Contains(out, "before_major_update") || !strings.Contains(out, "150 MB") {
		t.Errorf("checkpoint ls:\n%s", out)
	}
	r := tm.expect(cli.ExitFailed, "rollback", "--operations", "op-1,op-2")
	if !strings.Contains(r.stdout, "Failed") || !strings.Contains(r.stdout, "45.5s") {
		t.Errorf("partial rollback:\n%s", r.stdout)
	}
	r = tm.run("", "webhooks", "create", "--url", "https://example.com/hook", "--event", "task.completed", "--event", "task.failed")
	if r.code != 0 || !strings.Contains(r.stdout, "whsec_1") || !strings.Contains(r.stderr, "not shown again") {
		t.Errorf("webhooks create: %+v", r)
	}
	var sent map[string]any
	reqs := orch.Requests()
	_ = json.Unmarshal(reqs[len(reqs)-1].Body, &sent)
	if evs := sent["events"].([]any); len(evs) != 2 {
		t.Errorf("sent %v", sent)
	}
}

// TestRefreshIsStored: a stored token near expiry is refreshed by the
// next command and the new one written back, still 0600.
func TestRefreshIsStored(t *testing.T) {
	t.Parallel()
	now := time.Now()
	old := clienttest.Token("admin", now.Add(-58*time.Minute), now.Add(2*time.Minute))
	fresh := clienttest.Token("admin", now, now.Add(time.Hour))
	orch, control := clienttest.New(t), clienttest.New(t)
	control.Handle("POST /auth/login", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"token": old, "expires_at": now.Add(2 * time.Minute),
			"user": map[string]any{"id": "u-admin", "username": "admin", "roles": []string{"admin"}}})
	})
	control.Handle("POST /auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		clienttest.OK(w, 200, map[string]any{"token": fresh, "expires_at": now.Add(time.Hour)})
	})
	orch.Token = fresh
	orch.Handle("GET /tasks", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, []any{}) })
	tm := newTerm(t, orch.URL, control.URL)
	if r := tm.run("pw\n", "login", "-u", "admin", "--password-stdin"); r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	tm.ok("tasks", "ls")
	path := filepath.Join(tm.dir, "credentials.json")
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), fresh) || strings.Contains(string(b), old) {
		t.Errorf("credentials after refresh: %s %v", b, err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", info.Mode())
	}
}

func TestConfigFileAndFlagsPrecedence(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t)
	orch.Handle("GET /tasks", func(w http.ResponseWriter, r *http.Request) { clienttest.OK(w, 200, []any{}) })
	tm := newTerm(t, "", "")
	delete(tm.env, "PROVISIONING_SERVER")
	if err := os.WriteFile(filepath.Join(tm.dir, "config.toml"), []byte("server = \""+orch.URL+"\"\noutput = \"json\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := tm.ok("tasks", "ls"); strings.TrimSpace(out) != "[]" {
		t.Errorf("config.toml server and output: %q", out)
	}
	if out := tm.ok("tasks", "ls", "-o", "table"); !strings.HasPrefix(out, "ID") {
		t.Errorf("-o table over the config file: %q", out)
	}
	tm.env["PROVISIONING_SERVER"] = "http://127.0.0.1:1"
	tm.expect(cli.ExitUnavailable, "tasks", "ls")
	if out := tm.ok("tasks", "ls", "--server", orch.URL); strings.TrimSpace(out) != "[]" {
		t.Errorf("--server over the environment: %q", out)
	}
	if err := os.WriteFile(filepath.Join(tm.dir, "config.toml"), []byte("sever = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := tm.expect(cli.ExitUsage, "tasks", "ls")
	if !strings.Contains(r.stderr, `unknown setting "sever"`) {
		t.Errorf("stderr: %s", r.stderr)
	}
	tm.expect(cli.ExitUsage, "frobnicate")
	tm.expect(cli.ExitUsage, "tasks", "ls", "-o", "yaml")
}
