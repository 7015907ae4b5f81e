package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/executors/simulator"
	"provisioning/projections"
)

// submitServers submits a servers workflow on infra and returns the task
// id.
func (c client) submitServers(infra string, check bool) string {
	c.t.Helper()
	var id string
	c.ok(http.MethodPost, "/workflows/servers/create", map[string]any{"infra": infra, "check_mode": check, "wait": true}, &id)
	return id
}

// waitTask waits until the task has its final status.
func (c client) waitTask(id string, within time.Duration) taskAnswer {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var task taskAnswer
		c.ok(http.MethodGet, "/tasks/"+id, nil, &task)
		switch task.Status {
		case "Completed", "Failed", "Cancelled":
			return task
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("task %s still %s after %s", id, task.Status, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type rollbackAnswer struct {
	RollbackID         string   `json:"rollback_id"`
	Success            bool     `json:"success"`
	OperationsExecuted int      `json:"operations_executed"`
	OperationsFailed   int      `json:"operations_failed"`
	Duration           *float64 `json:"duration"`
	Status             string   `json:"status"`
}

type historyAnswer struct {
	Seq           uint64          `json:"seq"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Aggregate     string          `json:"aggregate"`
	AggregateID   string          `json:"aggregate_id"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
}

// TestCheckpointRollbackRestore goes through the recovery API end to end
// as an operator would: work, a checkpoint, more work, a rollback to the
// checkpoint (the simulated cloud loses what was created after it), then
// a restore (the views lose it too), and the history that keeps it all.
func TestCheckpointRollbackRestore(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SimSpeed = 0
	in := startInstance(t, cfg)
	c := adminClient(t, in)

	before := []string{c.submitServers("before-1", false), c.submitServers("before-2", false)}
	for _, id := range before {
		if task := c.waitTask(id, 30*time.Second); task.Status != "Completed" {
			t.Fatalf("task %s ended %s", id, task.Status)
		}
	}
	status, env, _ := c.do(http.MethodPost, "/rollback/checkpoints", map[string]string{"name": "before_major_update", "description": "Checkpoint before deploying v2.0.0"})
	if status != http.StatusCreated {
		t.Fatalf("create checkpoint: %d %s", status, env.Error)
	}
	var cpID string
	if err := json.Unmarshal(env.Data, &cpID); err != nil || cpID == "" {
		t.Fatalf("checkpoint id %s: %v", env.Data, err)
	}
	var cp map[string]any
	c.ok(http.MethodGet, "/rollback/checkpoints/"+cpID, nil, &cp)
	if cp["id"] != cpID || cp["name"] != "before_major_update" || cp["description"] != "Checkpoint before deploying v2.0.0" ||
		cp["operations_count"] != 2.0 || cp["seq"].(float64) <= 0 || !regexp.MustCompile(`^\d+(\.\d)? (B|KB|MB)$`).MatchString(cp["size"].(string)) {
		t.Fatalf("checkpoint: %v", cp)
	}
	if _, err := time.Parse(time.RFC3339, cp["created_at"].(string)); err != nil {
		t.Fatalf("created_at: %v", err)
	}

	after := []string{c.submitServers("after-1", false), c.submitServers("after-2", false), c.submitServers("dry-run", true)}
	for _, id := range after {
		c.waitTask(id, 30*time.Second)
	}
	state := filepath.Join(cfg.DataDir, "simulator", "state.json")
	if res := resources(t, state); !onInfra(res, "after-1") || !onInfra(res, "after-2") {
		t.Fatalf("the simulated cloud lacks the servers created after the checkpoint: %v", res)
	}

	var rb rollbackAnswer
	c.ok(http.MethodPost, "/rollback/execute", map[string]string{"checkpoint_id": cpID}, &rb)
	if !rb.Success || rb.Status != "Completed" || rb.OperationsExecuted != 2 || rb.OperationsFailed != 0 || rb.Duration == nil || *rb.Duration < 0 {
		t.Fatalf("rollback: %+v", rb)
	}
	if res := resources(t, state); onInfra(res, "after-1") || onInfra(res, "after-2") || !onInfra(res, "before-1") {
		t.Fatalf("after the rollback the simulated cloud holds %v", res)
	}
	// Newest first: the task that completed last was compensated first.
	completedSeq := func(id string) float64 {
		var snaps []map[string]any
		c.ok(http.MethodGet, "/state/workflows/"+id+"/snapshots", nil, &snaps)
		return snaps[len(snaps)-1]["seq"].(float64)
	}
	wantUndone := []string{after[1], after[0]}
	if completedSeq(after[0]) > completedSeq(after[1]) {
		wantUndone = []string{after[0], after[1]}
	}
	var tasks []taskAnswer
	c.ok(http.MethodGet, "/tasks?limit=100", nil, &tasks)
	var undone []string
	for _, task := range tasks {
		if task.Compensates != "" {
			undone = append([]string{task.Compensates}, undone...)
		}
	}
	if !slices.Equal(undone, wantUndone) {
		t.Fatalf("compensations in creation order undo %v, want %v (newest completion first)", undone, wantUndone)
	}

	var progress map[string]any
	c.ok(http.MethodGet, "/state/workflows/"+rb.RollbackID+"/progress", nil, &progress)
	if progress["kind"] != "rollback" || progress["progress"] != 100.0 || progress["total_steps"] != 2.0 || progress["completed_steps"] != 2.0 {
		t.Fatalf("rollback progress: %v", progress)
	}
	var snaps []map[string]any
	c.ok(http.MethodGet, "/state/workflows/"+rb.RollbackID+"/snapshots", nil, &snaps)
	if len(snaps) != 4 || snaps[0]["state"] != "running" || snaps[3]["state"] != "completed" {
		t.Fatalf("rollback snapshots: %v", snaps)
	}
	var hist []historyAnswer
	c.ok(http.MethodGet, "/state/workflows/"+rb.RollbackID+"/history?limit=1000", nil, &hist)
	if len(hist) < 8 || hist[0].Type != "RollbackStarted" || hist[len(hist)-1].Type != "RollbackCompleted" {
		t.Fatalf("rollback history: %v", types(hist))
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].Seq <= hist[i-1].Seq {
			t.Fatalf("history not oldest first: %v", hist)
		}
	}

	for _, tc := range []struct {
		name string
		body string
		want int
		msg  string
	}{
		{"already compensated", fmt.Sprintf(`{"operation_ids": [%q]}`, after[0]), 422, "already compensated"},
		{"dry run", fmt.Sprintf(`{"operation_ids": [%q]}`, after[2]), 422, "dry run"},
		{"unknown ids", `{"operation_ids": ["nope", "batch/op"]}`, 422, "operation_ids[1]"},
		{"both", fmt.Sprintf(`{"checkpoint_id": %q, "operation_ids": ["x"]}`, cpID), 422, "not both"},
		{"neither", `{}`, 422, "checkpoint_id"},
		{"unknown checkpoint", `{"checkpoint_id": "01NOPE"}`, 422, "not found"},
		{"wrong type", `{"operation_ids": "x"}`, 422, "operation_ids"},
	} {
		status, env, _ := c.do(http.MethodPost, "/rollback/execute", tc.body)
		if status != tc.want || !strings.Contains(env.Error+fmt.Sprint(env.Data), tc.msg) {
			t.Errorf("%s: %d %s, want %d %q", tc.name, status, env.Error, tc.want, tc.msg)
		}
	}
	var stats map[string]any
	c.ok(http.MethodGet, "/rollback/statistics", nil, &stats)
	if stats["total_checkpoints"] != 1.0 || stats["total_rollbacks"] != 1.0 || stats["success_rate"] != 100.0 || stats["average_rollback_time"].(float64) < 0 {
		t.Fatalf("statistics: %v", stats)
	}

	var msg string
	c.ok(http.MethodPost, "/rollback/restore/"+cpID, nil, &msg)
	if msg != "State restored from checkpoint "+cpID {
		t.Fatalf("restore answered %q", msg)
	}
	status, env, header := c.do(http.MethodGet, "/tasks", nil)
	var left []taskAnswer
	_ = json.Unmarshal(env.Data, &left)
	if status != 200 || header.Get("X-Total-Count") != "2" || len(left) != 2 || !slices.Contains(before, left[0].ID) || !slices.Contains(before, left[1].ID) {
		t.Fatalf("after the restore the tasks are %d %v (total %s)", status, left, header.Get("X-Total-Count"))
	}
	if status, _, _ := c.do(http.MethodGet, "/tasks/"+after[0], nil); status != http.StatusNotFound {
		t.Fatalf("a task created after the checkpoint is still in the view: %d", status)
	}
	// History keeps everything.
	status, env, header = c.do(http.MethodGet, "/events?aggregate=task&id="+after[0]+"&limit=2", nil)
	if status != 200 || header.Get("X-Total-Count") == "" || header.Get("X-Total-Count") == "0" || !strings.Contains(header.Get("Link"), `rel="next"`) {
		t.Fatalf("history of a restored-away task: %d %s %v", status, env.Error, header)
	}
	c.ok(http.MethodGet, "/events?type=CheckpointCreated,StateRestored", nil, &hist)
	if len(hist) != 2 || hist[0].Type != "CheckpointCreated" || hist[1].Type != "StateRestored" || hist[0].SchemaVersion != 2 {
		t.Fatalf("checkpoint history: %+v", hist)
	}
	for _, bad := range []string{"?aggregate=bogus", "?type=Nope", "?from_seq=x", "?to=yesterday", "?aggregate=batch&type=TaskCreated", "?limit=0"} {
		if status, _, _ := c.do(http.MethodGet, "/events"+bad, nil); status != http.StatusBadRequest {
			t.Errorf("GET /events%s: %d, want 400", bad, status)
		}
	}

	// A replay of the stream reaches the live views, with the checkpoint's
	// object or without it.
	compareWithReplay(t, in, true)
	compareWithReplay(t, in, false)
}

// compareWithReplay folds the instance's stream into fresh views and
// compares them with the instance's own.
func compareWithReplay(t *testing.T, in *app.Instance, withObjects bool) {
	t.Helper()
	ctx := context.Background()
	if err := in.View().WaitForLatest(ctx); err != nil {
		t.Fatal(err)
	}
	tl := &projections.Timeline{Store: in.Store()}
	if withObjects {
		objects, err := projections.OpenCheckpointObjects(ctx, in.Store())
		if err != nil {
			t.Fatal(err)
		}
		tl.Objects = objects
	}
	tasks, batches, rollbacks, checkpoints := projections.EventViews()
	if _, err := projections.Fold(ctx, in.Store(), projections.FoldRange{Until: in.View().Seq()}, tl, tasks, batches, rollbacks, checkpoints); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]projections.Canonicalizer{{tasks, in.Tasks()}, {batches, in.Batches()}, {rollbacks, in.Rollbacks()}, {checkpoints, in.Checkpoints()}} {
		replayed, err := pair[0].Canonical()
		if err != nil {
			t.Fatal(err)
		}
		live, err := pair[1].Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if len(replayed) != len(live) {
			t.Fatalf("%s: replay has %d items, live %d", pair[0].Name(), len(replayed), len(live))
		}
		for id, doc := range live {
			if string(replayed[id]) != string(doc) {
				t.Fatalf("%s %s differs:\nreplay %s\nlive   %s", pair[0].Name(), id, replayed[id], doc)
			}
		}
	}
}

func resources(t *testing.T, statePath string) []string {
	t.Helper()
	st, err := simulator.OpenState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Resources()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// onInfra reports whether the simulated cloud holds servers of infra.
func onInfra(resources []string, infra string) bool {
	return slices.ContainsFunc(resources, func(r string) bool { return strings.HasPrefix(r, "servers/"+infra+"/") })
}

func types(h []historyAnswer) []string {
	out := make([]string, len(h))
	for i, e := range h {
		out[i] = e.Type
	}
	return out
}
