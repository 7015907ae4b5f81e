package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/executors/simulator"
)

// chainsAndFans is a batch of n operations: fans (server batches, several
// tasks in parallel) and chains (taskservs in order), each depending on
// up to two of the four operations before it.
func chainsAndFans(name string, n, limit int, seed uint64) map[string]any {
	rng := rand.New(rand.NewPCG(seed, 1))
	ops := make([]map[string]any, n)
	for i := range ops {
		op := map[string]any{"id": fmt.Sprintf("op%03d", i)}
		var deps []string
		for j := max(0, i-4); j < i && len(deps) < 2; j++ {
			if rng.IntN(2) == 0 {
				deps = append(deps, fmt.Sprintf("op%03d", j))
			}
		}
		op["dependencies"] = deps
		if i%2 == 0 {
			op["type"] = "server_batch"
			var cfgs []map[string]string
			for k := 0; k < 1+rng.IntN(3); k++ {
				cfgs = append(cfgs, map[string]string{"name": fmt.Sprintf("srv-%d-%d", i, k)})
			}
			op["server_configs"] = cfgs
		} else {
			op["type"] = "taskserv_batch"
			op["taskservs"] = []string{fmt.Sprintf("ts-%d-a", i), fmt.Sprintf("ts-%d-b", i)}
		}
		ops[i] = op
	}
	return map[string]any{"name": name, "parallel_limit": limit, "operations": ops}
}

// taskEvents reads the event stream and returns, per task of the batch,
// its events in order, and checks in stream order that never more than
// limit tasks of the batch run at once.
func taskEvents(t *testing.T, store *eventstore.Store, batchID string, limit int) map[string][]events.Envelope {
	t.Helper()
	out := map[string][]events.Envelope{}
	running := map[string]bool{}
	err := store.Read(context.Background(), events.EventsStream, eventstore.Position{}, func(e events.Envelope, err error) error {
		if err != nil || e.Aggregate != events.AggTask {
			return err
		}
		if e.Type == events.TaskCreated {
			var d events.TaskCreatedData
			if err := e.Decode(&d); err != nil || d.BatchID != batchID {
				return err
			}
		} else if _, ours := out[e.AggregateID]; !ours {
			return nil
		}
		out[e.AggregateID] = append(out[e.AggregateID], e)
		if e.Type == events.TaskStatusChanged {
			var d events.TaskStatusChangedData
			_ = e.Decode(&d)
			switch {
			case d.Status == events.StatusRunning:
				running[e.AggregateID] = true
			case events.Terminal(d.Status):
				delete(running, e.AggregateID)
			}
			if len(running) > limit {
				t.Errorf("at seq %d, %d tasks of the batch run, limit %d", e.Seq, len(running), limit)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runs(evs []events.Envelope) (created, running, completed int) {
	for _, e := range evs {
		switch e.Type {
		case events.TaskCreated:
			created++
		case events.TaskStatusChanged:
			var d events.TaskStatusChangedData
			_ = e.Decode(&d)
			switch d.Status {
			case events.StatusRunning:
				running++
			case events.StatusCompleted:
				completed++
			}
		}
	}
	return
}

// TestTwoInstancesShareABatch runs two instances on one NATS server, each
// with its own views, coordinator and executors, and a batch submitted
// to one and followed on the other: every task is created once and
// started exactly once, never more than the limit at once.
func TestTwoInstancesShareABatch(t *testing.T) {
	t.Parallel()
	nats := eventstest.Start(t)
	var instances []client
	for range 2 {
		cfg := testConfig(t)
		cfg.NATSURL = nats.URL()
		cfg.SimSpeed = 0
		cfg.Workers = 4
		in := startInstance(t, cfg)
		instances = append(instances, adminClient(t, in))
	}
	const ops, limit = 40, 4
	id := instances[0].submit(chainsAndFans("shared", ops, limit, 3))
	b := instances[1].waitBatch(id, 90*time.Second)
	if b.Status != "Completed" {
		t.Fatalf("batch ended %s (%v)", b.Status, b.Error)
	}
	perTask := taskEvents(t, nats.Store, id, limit)
	tasks := instances[0].batchTasks(id)
	if len(perTask) != len(tasks) || len(tasks) < ops {
		t.Fatalf("%d tasks in the stream, %d in the view", len(perTask), len(tasks))
	}
	seen := map[string]bool{}
	for _, task := range tasks {
		key := task.OperationID + "/" + task.Name
		if seen[key] {
			t.Fatalf("task %s created twice", key)
		}
		seen[key] = true
		if created, running, completed := runs(perTask[task.ID]); created != 1 || running != 1 || completed != 1 {
			t.Fatalf("task %s: created %d, started %d, completed %d times", key, created, running, completed)
		}
	}
	deciders := map[string]bool{}
	_ = nats.Store.Read(context.Background(), events.EventsStream, eventstore.Position{Subjects: []string{events.AggregateSubject(events.AggBatch, id)}}, func(e events.Envelope, err error) error {
		if err == nil && e.Type != events.BatchCreated {
			deciders[e.Actor] = true
		}
		return err
	})
	t.Logf("%d tasks; decisions stored by %d coordinators", len(tasks), len(deciders))
}

// TestKillAndRestartMidBatch kills a serving process (SIGKILL: no
// shutdown, its simulator children die with it) while a batch runs,
// starts it again on the same data directory, and checks that the batch
// finishes with every task created once, and that only the tasks that
// were running when it died ran again.
func TestKillAndRestartMidBatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr, controlAddr := apptest.FreeAddr(t), apptest.FreeAddr(t)
	serve := func() *exec.Cmd {
		cmd := exec.Command(apptest.Binary(t), "serve", "--data-dir", dir, "--orchestrator-addr", addr, "--control-addr", controlAddr, "--nats-listen=",
			"--sim-speed", "0.03", "--job-ack-wait", "2s", "--sync", "1m", "--log-level", "warn", "--shutdown-grace", "2s",
			"--rate-limit-general", "0", "--rate-limit-auth", "0")
		cmd.Env = append(os.Environ(), apptest.AdminEnv...)
		logf, err := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitHealthy(t, "http://"+addr)
		return cmd
	}
	first := serve()
	c := client{t, "http://" + addr, apptest.Login(t, "http://"+controlAddr, "admin", apptest.AdminPassword)}
	var ops []map[string]any
	for i := 0; i < 10; i++ {
		op := map[string]any{"id": fmt.Sprintf("step%d", i), "type": "taskserv_batch", "taskservs": []string{fmt.Sprintf("ts%d", i)}}
		if i > 0 {
			op["dependencies"] = []string{fmt.Sprintf("step%d", i-1)}
		}
		ops = append(ops, op)
	}
	id := c.submit(map[string]any{"name": "restarted", "parallel_limit": 2, "operations": ops})

	var before []taskAnswer
	deadline := time.Now().Add(60 * time.Second)
	for completed := 0; completed < 3; {
		before, completed = c.batchTasks(id), 0
		for _, task := range before {
			if task.Status == "Completed" {
				completed++
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the batch did not progress")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	doneBefore := map[string]bool{}
	for _, task := range before {
		if task.Status == "Completed" {
			doneBefore[task.ID] = true
		}
	}

	serve()
	b := c.waitBatch(id, 90*time.Second)
	if b.Status != "Completed" {
		t.Fatalf("after the restart the batch ended %s (%v)", b.Status, b.Error)
	}
	tasks := c.batchTasks(id)
	if len(tasks) != 10 {
		t.Fatalf("%d tasks, want 10: %v", len(tasks), names(tasks))
	}
	seen := map[string]bool{}
	for _, task := range tasks {
		if seen[task.OperationID] {
			t.Fatalf("operation %s has two tasks", task.OperationID)
		}
		seen[task.OperationID] = true
		if task.Status != "Completed" || (doneBefore[task.ID] && task.Attempts != 1) {
			t.Fatalf("task %s: %s after %d attempts", task.Name, task.Status, task.Attempts)
		}
	}
	journal, err := simulator.ReadJournal(filepath.Join(dir, "simulator", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if overlaps := simulator.Overlaps(journal); len(overlaps) > 0 {
		t.Fatalf("task %s ran twice at once", overlaps[0])
	}
	starts := simulator.Runs(journal)
	again := 0
	for _, task := range tasks {
		switch n := starts[task.ID]; {
		case n == 1:
		case n == 2 && !doneBefore[task.ID]:
			again++ // it was running when the process died
		default:
			t.Fatalf("task %s started %d times (completed before the kill: %v)", task.Name, n, doneBefore[task.ID])
		}
	}
	t.Logf("%d tasks completed before the kill, %d ran again after it", len(doneBefore), again)
	if again > 2 {
		t.Fatalf("%d tasks ran again; at most parallel_limit (2) were running", again)
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer: %v", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
