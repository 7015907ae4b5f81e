package main_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/events/eventstest"
	"provisioning/executors/simulator"
	"provisioning/workflow"
)

// SIGKILL the real binary while it runs jobs, start it again on the same
// data directory: every acknowledged task is there and completes, the
// killed runs died with the process (no orphan keeps running), and no task
// ran twice at once.
func TestKillAndRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--orchestrator-addr", "127.0.0.1:0", "--control-addr", "127.0.0.1:0",
		"--nats-listen", "", "--sim-speed", "0.2", "--job-ack-wait", "2s", "--workers", "3",
		"--rate-limit-general", "0", "--rate-limit-auth", "0"} // the test polls
	p := apptest.Serve(t, apptest.AdminEnv, args...)
	c := apptest.NewClient(p.OrchestratorURL).WithToken(p.Login(t, "admin", apptest.AdminPassword))
	var ids []string
	for i := 0; i < 8; i++ {
		res := c.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": fmt.Sprintf("k%d", i)})
		if res.Status != http.StatusOK {
			t.Fatalf("submit: %d %s", res.Status, res.Raw)
		}
		var id string
		res.Decode(t, &id)
		ids = append(ids, id)
	}
	state := filepath.Join(dir, "simulator", "state.json")
	var running []int
	eventstest.Eventually(t, 30*time.Second, func() bool {
		entries, _ := simulator.ReadJournal(state)
		running = running[:0]
		for _, e := range entries {
			if e.Event == "start" {
				running = append(running, e.PID)
			}
		}
		return len(running) >= 3
	}, "jobs never started")

	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Cmd.Wait()
	for _, pid := range running {
		pid := pid
		eventstest.Eventually(t, 5*time.Second, func() bool { return !apptest.ProcessAlive(pid) },
			"job process %d outlived the killed executor", pid)
	}

	p2 := apptest.Serve(t, apptest.AdminEnv, args...)
	c2 := apptest.NewClient(p2.OrchestratorURL).WithToken(p2.Login(t, "admin", apptest.AdminPassword))
	eventstest.Eventually(t, 90*time.Second, func() bool {
		for _, id := range ids {
			res := c2.Do(t, "GET", "/tasks/"+id, nil)
			if res.Status == http.StatusNotFound {
				t.Fatalf("acknowledged task %s lost: %s", id, res.Raw)
			}
			if res.Status != http.StatusOK {
				return false
			}
			var task workflow.Task
			res.Decode(t, &task)
			if task.Status != "Completed" {
				return false
			}
		}
		return true
	}, "tasks did not all complete after the restart")
	entries, err := simulator.ReadJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	if o := simulator.Overlaps(entries); len(o) > 0 {
		t.Fatalf("tasks ran twice at once: %v", o)
	}
}
