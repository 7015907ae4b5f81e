package app_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events/eventstest"
	"provisioning/executors/simulator"
	"provisioning/workflow"
)

func submit(t *testing.T, c *apptest.Client, infra string) string {
	t.Helper()
	res := c.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": infra})
	if res.Status != http.StatusOK {
		t.Fatalf("submit: %d %s", res.Status, res.Raw)
	}
	var id string
	res.Decode(t, &id)
	return id
}

func statuses(t *testing.T, c *apptest.Client) map[string]workflow.Task {
	t.Helper()
	res := c.Do(t, "GET", "/tasks?limit=1000", nil)
	var tasks []workflow.Task
	res.Decode(t, &tasks)
	out := map[string]workflow.Task{}
	for _, task := range tasks {
		out[task.ID] = task
	}
	return out
}

// A graceful stop in the middle of running jobs hands them back; the next
// start on the same data finishes every acknowledged task, and no task ran
// twice at once.
func TestGracefulRestartMidRun(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.SimSpeed = 0.2 // about 3 s a task
	cfg.ShutdownGrace = 100 * time.Millisecond
	cfg.Workers = 4
	in, err := app.Start(context.Background(), cfg, apptest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	c := apptest.AdminClient(t, in)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, submit(t, c, fmt.Sprintf("r%d", i)))
	}
	eventstest.Eventually(t, 30*time.Second, func() bool {
		return c.Do(t, "GET", "/tasks?status=Running", nil).Header.Get("X-Total-Count") == "4"
	}, "four tasks never ran")
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	in2 := apptest.Start(t, cfg)
	c2 := apptest.AdminClient(t, in2)
	eventstest.Eventually(t, 60*time.Second, func() bool {
		st := statuses(t, c2)
		for _, id := range ids {
			if st[id].Status != "Completed" {
				return false
			}
		}
		return true
	}, "not every task completed after the restart")
	entries, err := simulator.ReadJournal(filepath.Join(cfg.DataDir, "simulator", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if o := simulator.Overlaps(entries); len(o) > 0 {
		t.Fatalf("tasks ran twice at once: %v", o)
	}
	st := statuses(t, c2)
	interrupted := 0
	for _, id := range ids {
		if st[id].Attempts > 1 {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Fatal("no task was interrupted: the test did not stop mid-run")
	}
}
