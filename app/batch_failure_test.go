package app_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"provisioning/executors/simulator"
)

// failingBatch: servers and a taskserv chain complete, then a cluster
// named fail-… fails (the simulator fails names matching ^fail), and a
// last operation never starts.
func failingBatch(rollback bool) map[string]any {
	return map[string]any{
		"name": "rollback-demo", "parallel_limit": 3, "rollback_enabled": rollback,
		"operations": []map[string]any{
			{"id": "servers", "type": "server_batch", "server_configs": []map[string]string{{"name": "db-01"}, {"name": "db-02"}}},
			{"id": "platform", "type": "taskserv_batch", "dependencies": []string{"servers"}, "taskservs": []string{"kubernetes", "cilium"}},
			{"id": "clusters", "type": "cluster_batch", "dependencies": []string{"platform"}, "clusters": []string{"fail-buildkit"}},
			{"id": "apps", "type": "cluster_batch", "dependencies": []string{"clusters"}, "clusters": []string{"web"}},
		},
	}
}

// TestBatchRollsBack: with rollback, the completed work is deleted again
// through the CLI in reverse order of completion, and the batch ends
// RolledBack; without, the rest is Skipped and the batch Failed.
func TestBatchRollsBack(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	in := startInstance(t, cfg)
	c := adminClient(t, in)

	id := c.submit(failingBatch(true))
	b := c.waitBatch(id, 60*time.Second)
	statuses := map[string]string{}
	for _, op := range b.Operations {
		statuses[op.ID] = op.Status
	}
	want := map[string]string{"servers": "RolledBack", "platform": "RolledBack", "clusters": "Failed", "apps": "Skipped"}
	if b.Status != "RolledBack" || b.Error == nil || !strings.Contains(*b.Error, "operation clusters") || !equal(statuses, want) {
		t.Fatalf("batch %s (%v), operations %v, want RolledBack and %v", b.Status, *b.Error, statuses, want)
	}

	tasks := c.batchTasks(id)
	var originals []taskAnswer
	undo := map[string]taskAnswer{}
	for _, task := range tasks {
		if task.Compensates != "" {
			undo[task.Compensates] = task
			if !strings.HasPrefix(task.Name, "rollback_delete_") || task.Status != "Completed" {
				t.Fatalf("compensation %s is %s", task.Name, task.Status)
			}
		} else if task.Status == "Completed" {
			originals = append(originals, task)
		}
	}
	if len(originals) != 4 || len(undo) != 4 {
		t.Fatalf("%d completed tasks, %d compensations: %v", len(originals), len(undo), names(tasks))
	}
	// Reverse order of completion: a compensation is created (scheduled)
	// only after the compensations of everything that completed later,
	// and starts only after those of its dependents have finished.
	for _, a := range originals {
		for _, b := range originals {
			if b.CompletedAt.After(*a.CompletedAt) && undo[a.ID].CreatedAt.Before(undo[b.ID].CreatedAt) {
				t.Errorf("undo of %s scheduled before undo of %s, which completed later", a.Name, b.Name)
			}
			if slices_contains(b.Dependencies, a.ID) && undo[a.ID].StartedAt.Before(*undo[b.ID].CompletedAt) {
				t.Errorf("undo of %s started before undo of its dependent %s completed", a.Name, b.Name)
			}
		}
	}
	for _, r := range resources(t, filepath.Join(cfg.DataDir, "simulator", "state.json")) {
		if strings.Contains(r, "/rollback-demo/") {
			t.Fatalf("the rollback left %s behind", r)
		}
	}

	id = c.submit(failingBatch(false))
	b = c.waitBatch(id, 60*time.Second)
	for _, op := range b.Operations {
		statuses[op.ID] = op.Status
	}
	want = map[string]string{"servers": "Completed", "platform": "Completed", "clusters": "Failed", "apps": "Skipped"}
	if b.Status != "Failed" || !equal(statuses, want) {
		t.Fatalf("without rollback: batch %s, operations %v, want Failed and %v", b.Status, statuses, want)
	}
}

func slices_contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestBatchCancel: cancel answers once nothing of the batch runs (every
// simulator process that started has ended), skips what had not started,
// and is idempotent.
func TestBatchCancel(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SimSpeed = 1 // about 15 s a task: the cancel finds it running
	in := startInstance(t, cfg)
	c := adminClient(t, in)
	id := c.submit(map[string]any{"name": "slow", "parallel_limit": 2, "operations": []map[string]any{
		{"id": "servers", "type": "server_batch", "server_configs": []map[string]string{{"name": "a"}, {"name": "b"}, {"name": "c"}}},
		{"id": "k8s", "type": "taskserv_batch", "dependencies": []string{"servers"}, "taskservs": []string{"kubernetes"}},
	}})
	deadline := time.Now().Add(30 * time.Second)
	for running := 0; running < 2; {
		running = 0
		for _, task := range c.batchTasks(id) {
			if task.Status == "Running" {
				running++
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the batch's tasks did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	start := time.Now()
	var msg string
	c.ok(http.MethodPost, "/batch/operations/"+id+"/cancel", nil, &msg)
	if msg != "Operation cancelled" {
		t.Fatalf("cancel answered %q", msg)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("cancel took %s: the processes were not killed", took)
	}
	// Nothing runs any more: every simulator process that started ended.
	journal, err := simulator.ReadJournal(filepath.Join(cfg.DataDir, "simulator", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]int{}
	for _, e := range journal {
		switch e.Event {
		case "start":
			open[e.TaskID]++
		case "end":
			open[e.TaskID]--
		}
	}
	for task, n := range open {
		if n != 0 {
			t.Fatalf("task %s still has a process after cancel returned", task)
		}
	}
	b := c.batch(id)
	statuses := map[string]string{}
	for _, op := range b.Operations {
		statuses[op.ID] = op.Status
	}
	if b.Status != "Cancelled" || !equal(statuses, map[string]string{"servers": "Cancelled", "k8s": "Skipped"}) {
		t.Fatalf("batch %s, operations %v", b.Status, statuses)
	}
	for _, task := range c.batchTasks(id) {
		if task.Status != "Cancelled" {
			t.Fatalf("task %s is %s", task.Name, task.Status)
		}
	}
	c.ok(http.MethodPost, "/batch/operations/"+id+"/cancel", nil, &msg)
	if msg != "Operation cancelled" {
		t.Fatalf("second cancel answered %q", msg)
	}
}
