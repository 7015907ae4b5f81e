package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// referenceBatchFile is the POST /batch/execute example of the API
// reference, as written; package workflow's tests decode the same file.
const referenceBatchFile = "../workflow/testdata/reference_batch.json"

// TestReferenceBatchEndToEnd submits the reference's example through
// HTTP and checks, from the tasks' own timestamps, that it ran in the
// order its dependencies say, then the state endpoints about it.
func TestReferenceBatchEndToEnd(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	in := startInstance(t, cfg)
	c := adminClient(t, in)

	reference, err := os.ReadFile(referenceBatchFile)
	if err != nil {
		t.Fatal(err)
	}
	status, env, _ := c.do(http.MethodPost, "/batch/execute", string(reference))
	if status != http.StatusOK || !env.Success {
		t.Fatalf("execute: %d %s", status, env.Error)
	}
	var accepted map[string]any
	if err := json.Unmarshal(env.Data, &accepted); err != nil {
		t.Fatal(err)
	}
	id, _ := accepted["batch_id"].(string)
	want := map[string]any{"batch_id": id, "status": "Running", "operations": []any{
		map[string]any{"id": "upcloud_servers", "status": "Pending", "progress": 0.0},
		map[string]any{"id": "aws_taskservs", "status": "Pending", "progress": 0.0},
	}}
	if id == "" || !reflect.DeepEqual(accepted, want) {
		t.Fatalf("execute answered %v, want the reference's shape %v", accepted, want)
	}

	b := c.waitBatch(id, 60*time.Second)
	if b.Status != "Completed" || b.Name != "multi_cloud_deployment" {
		t.Fatalf("batch ended %s (%v): %+v", b.Status, b.Error, b)
	}
	for _, op := range b.Operations {
		if op.Status != "Completed" || op.Progress == nil || *op.Progress != 100 || op.Results == nil {
			t.Fatalf("operation %s: %s %v", op.ID, op.Status, op.Progress)
		}
		for _, r := range op.Results.Tasks {
			if r.Status != "Completed" || r.Output == nil || !strings.HasPrefix(*r.Output, "Successfully created") {
				t.Fatalf("operation %s task %s: %s %v", op.ID, r.Name, r.Status, r.Output)
			}
		}
	}

	tasks := c.batchTasks(id)
	byName := map[string]taskAnswer{}
	for _, task := range tasks {
		byName[task.Name] = task
	}
	if len(tasks) != 5 || len(byName) != 5 {
		t.Fatalf("%d tasks, want 5: %v", len(tasks), names(tasks))
	}
	web01 := byName["create_server_web-01"]
	if got := strings.Join(web01.Args, " "); got != "--infra multi_cloud_deployment --provider upcloud --name web-01 --plan 1xCPU-2 GB --zone de-fra1 --wait" {
		t.Fatalf("web-01 ran with %q", got)
	}
	servers := []taskAnswer{web01, byName["create_server_web-02"]}
	chain := []taskAnswer{byName["create_taskserv_kubernetes"], byName["create_taskserv_cilium"], byName["create_taskserv_containerd"]}
	for _, s := range servers {
		if s.OperationID != "upcloud_servers" || len(s.Dependencies) != 0 {
			t.Fatalf("server task %+v", s)
		}
		// Every taskserv starts after both servers completed.
		for _, ts := range chain {
			if ts.StartedAt.Before(*s.CompletedAt) {
				t.Fatalf("%s started at %v, before %s completed at %v", ts.Name, ts.StartedAt, s.Name, s.CompletedAt)
			}
		}
	}
	if deps := chain[0].Dependencies; len(deps) != 2 || !slices.Contains(deps, servers[0].ID) || !slices.Contains(deps, servers[1].ID) {
		t.Fatalf("kubernetes depends on %v, want both servers", deps)
	}
	for i := 1; i < len(chain); i++ {
		if chain[i].StartedAt.Before(*chain[i-1].CompletedAt) || !reflect.DeepEqual(chain[i].Dependencies, []string{chain[i-1].ID}) {
			t.Fatalf("%s (started %v, deps %v) did not wait for %s (completed %v)", chain[i].Name, chain[i].StartedAt, chain[i].Dependencies, chain[i-1].Name, chain[i-1].CompletedAt)
		}
	}

	// The simulated cloud holds what the batch created.
	state := resources(t, filepath.Join(cfg.DataDir, "simulator", "state.json"))
	for _, r := range []string{"servers/multi_cloud_deployment/web-01", "servers/multi_cloud_deployment/web-02", "taskserv/multi_cloud_deployment/cilium"} {
		if !slices.Contains(state, r) {
			t.Fatalf("the simulator's state lacks %s: %v", r, state)
		}
	}

	checkStateEndpoints(t, c, id, web01.ID)
}

func names(tasks []taskAnswer) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.Name)
	}
	return out
}

// checkStateEndpoints: the /state endpoints about a finished batch and
// one of its tasks.
func checkStateEndpoints(t *testing.T, c client, batchID, taskID string) {
	var progress map[string]any
	c.ok(http.MethodGet, "/state/workflows/"+batchID+"/progress", nil, &progress)
	if progress["progress"] != 100.0 || progress["total_steps"] != 5.0 || progress["completed_steps"] != 5.0 || progress["estimated_time_remaining"] != 0.0 {
		t.Fatalf("batch progress %v", progress)
	}
	c.ok(http.MethodGet, "/state/workflows/"+taskID+"/progress", nil, &progress)
	if progress["workflow_id"] != taskID || progress["progress"] != 100.0 || progress["total_steps"] != 6.0 {
		t.Fatalf("task progress %v", progress)
	}
	var snaps []map[string]any
	status, env, h := c.do(http.MethodGet, "/state/workflows/"+batchID+"/snapshots?limit=2", nil)
	if status != http.StatusOK || json.Unmarshal(env.Data, &snaps) != nil || len(snaps) != 2 || h.Get("X-Total-Count") == "" || !strings.Contains(h.Get("Link"), `rel="next"`) {
		t.Fatalf("snapshots: %d %s %v", status, env.Data, h)
	}
	if snaps[0]["state"] != "running" || snaps[0]["snapshot_id"] == "" {
		t.Fatalf("first snapshot %v", snaps[0])
	}
	c.ok(http.MethodGet, "/state/workflows/"+taskID+"/snapshots", nil, &snaps)
	if len(snaps) != 3 || snaps[2]["state"] != "completed" {
		t.Fatalf("task snapshots %v", snaps)
	}
	if status, _, _ := c.do(http.MethodGet, "/state/workflows/nope/progress", nil); status != http.StatusNotFound {
		t.Fatalf("progress of an unknown workflow: %d", status)
	}

	var raw map[string]any
	c.ok(http.MethodGet, "/state/system/metrics", nil, &raw)
	if raw["total_workflows"] != 5.0 || raw["completed_workflows"] != 5.0 || raw["total_batches"] != 1.0 {
		t.Fatalf("metrics %v", raw)
	}
	var stats map[string]any
	c.ok(http.MethodGet, "/state/statistics", nil, &stats)
	if stats["total_workflows"] != 5.0 || stats["storage_bytes"].(float64) <= 0 || !strings.HasSuffix(stats["storage_usage"].(string), "B") ||
		stats["average_workflow_duration"].(float64) <= 0 || stats["active_snapshots"].(float64) < 15 {
		t.Fatalf("statistics %v", stats)
	}
}

func TestBatchListAndValidation(t *testing.T) {
	t.Parallel()
	in := startInstance(t, testConfig(t))
	c := adminClient(t, in)
	tests := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"cycle", `{"name":"b","operations":[{"id":"a","type":"cluster_batch","clusters":["x"],"dependencies":["b"]},{"id":"b","type":"cluster_batch","clusters":["y"],"dependencies":["a"]}]}`,
			422, "operations: cycle: a -> b -> a"},
		{"unknown dependency", `{"name":"b","operations":[{"id":"a","type":"cluster_batch","clusters":["x"]},{"id":"b","type":"cluster_batch","clusters":["y"]},{"id":"c","type":"cluster_batch","clusters":["z"],"dependencies":["x"]}]}`,
			422, `operations[2].dependencies[0]: names unknown operation "x"`},
		{"unknown field", `{"name":"b","operations":[],"priority":1}`, 422, "priority"},
		{"wrong type", `{"name":"b","parallel_limit":"five","operations":[]}`, 422, "parallel_limit"},
		{"parallel limit", `{"name":"b","parallel_limit":0,"operations":[{"id":"a","type":"cluster_batch","clusters":["x"]}]}`, 422, "parallel_limit: must be from 1 to 1000, not 0"},
		{"storage backend", `{"name":"b","storage_backend":"postgres","operations":[{"id":"a","type":"cluster_batch","clusters":["x"]}]}`, 422, "storage_backend"},
		{"malformed", `{"name":`, 400, "malformed JSON"},
	}
	for _, tc := range tests {
		status, env, _ := c.do(http.MethodPost, "/batch/execute", tc.body)
		if status != tc.status || env.Success || !strings.Contains(env.Error, tc.msg) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, status, env.Error, tc.status, tc.msg)
		}
	}
	if status, _, _ := c.do(http.MethodGet, "/batch/operations/nope", nil); status != http.StatusNotFound {
		t.Errorf("unknown batch: %d", status)
	}
	if status, _, _ := c.do(http.MethodPost, "/batch/operations/nope/cancel", nil); status != http.StatusNotFound {
		t.Errorf("cancel of an unknown batch: %d", status)
	}

	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, c.submit(`{"name":"b`+string(rune('0'+i))+`","operations":[{"id":"a","type":"cluster_batch","clusters":["buildkit"]}]}`))
	}
	status, env, h := c.do(http.MethodGet, "/batch/operations?limit=2", nil)
	var page []batchAnswer
	if status != http.StatusOK || json.Unmarshal(env.Data, &page) != nil || len(page) != 2 || h.Get("X-Total-Count") != "3" || page[0].BatchID != ids[2] {
		t.Fatalf("list: %d %s %v", status, env.Data, h)
	}
	if !strings.Contains(h.Get("Link"), "/batch/operations?limit=2&offset=2") || len(page[0].Operations) != 1 || page[0].Operations[0].Results != nil {
		t.Fatalf("list page %+v, Link %s", page, h.Get("Link"))
	}
	for _, id := range ids {
		c.waitBatch(id, 30*time.Second)
	}
	// A retried submission with the same Idempotency-Key is the same batch.
	var first, again struct {
		BatchID string `json:"batch_id"`
	}
	for _, v := range []any{&first, &again} {
		req, _ := http.NewRequest(http.MethodPost, c.base+"/batch/execute", strings.NewReader(`{"name":"once","operations":[{"id":"a","type":"cluster_batch","clusters":["x"]}]}`))
		req.Header.Set("Idempotency-Key", "k-1")
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env envelope
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		_ = json.Unmarshal(env.Data, v)
	}
	if first.BatchID == "" || first.BatchID != again.BatchID {
		t.Fatalf("Idempotency-Key: %q then %q", first.BatchID, again.BatchID)
	}
	if status, _, _ := c.do(http.MethodGet, "/batch/operations?status=Bogus", nil); status != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", status)
	}
	status, env, _ = c.do(http.MethodPost, "/batch/operations/"+ids[0]+"/cancel", nil)
	if status != http.StatusConflict || !strings.Contains(env.Error, "Completed") {
		t.Fatalf("cancel of a completed batch: %d %s", status, env.Error)
	}
}

// TestSystemHealthAndLoad: a fresh instance becomes Healthy in every
// component, and reports the host's real load.
func TestSystemHealthAndLoad(t *testing.T) {
	t.Parallel()
	in := startInstance(t, testConfig(t))
	c := adminClient(t, in)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, env, _ := c.do(http.MethodGet, "/state/system/health", nil)
		var rep struct {
			Overall    string            `json:"overall_status"`
			Components map[string]string `json:"components"`
		}
		_ = json.Unmarshal(env.Data, &rep)
		if status == http.StatusOK {
			want := map[string]string{"storage": "Healthy", "batch_coordinator": "Healthy", "rollback_coordinator": "Healthy", "monitoring": "Healthy"}
			if rep.Overall != "Healthy" || !equal(rep.Components, want) {
				t.Fatalf("health %+v", rep)
			}
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("health: %d %s", status, env.Data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var raw map[string]json.RawMessage
	status, env, _ := c.do(http.MethodGet, "/state/system/metrics", nil)
	if status != http.StatusOK {
		t.Fatalf("metrics: %d", status)
	}
	var load map[string]*float64
	if err := json.Unmarshal(env.Data, &raw); err != nil || json.Unmarshal(raw["system_load"], &load) != nil {
		t.Fatalf("metrics %s", env.Data)
	}
	if load["cpu_usage"] == nil || load["memory_usage"] == nil || *load["memory_usage"] <= 0 || load["disk_usage"] == nil || *load["disk_usage"] <= 0 {
		t.Fatalf("system load %s", env.Data)
	}
}
