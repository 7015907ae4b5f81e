package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/projections"
)

// TestRollbackSurvivesItsInstance starts a rollback on one instance,
// stops that instance while the rollback runs, and lets another instance
// on the same NATS finish it: every target is compensated exactly once.
func TestRollbackSurvivesItsInstance(t *testing.T) {
	t.Parallel()
	nats := eventstest.Start(t)
	cfg := func() app.Config {
		cfg := testConfig(t)
		cfg.NATSURL = nats.URL()
		cfg.SimSpeed = 0.02
		cfg.Workers = 2
		return cfg
	}
	a := startInstance(t, cfg())
	b := startInstance(t, cfg())
	ca, cb := adminClient(t, a), adminClient(t, b)
	var targets []string
	for i := range 4 {
		targets = append(targets, ca.submitServers(fmt.Sprintf("undo-%d", i), false))
	}
	for _, id := range targets {
		ca.waitTask(id, 60*time.Second)
	}
	status, env, _ := ca.do(http.MethodPost, "/rollback/execute?wait=0", map[string]any{"operation_ids": targets})
	var rb rollbackAnswer
	_ = json.Unmarshal(env.Data, &rb)
	if status != http.StatusAccepted || rb.Status != "Running" || rb.Success || rb.RollbackID == "" {
		t.Fatalf("rollback with wait=0: %d %+v %s", status, rb, env.Error)
	}
	// Once the first compensation runs, instance A goes away.
	eventstest.Eventually(t, 30*time.Second, func() bool {
		var p map[string]any
		cb.ok(http.MethodGet, "/state/workflows/"+rb.RollbackID+"/progress", nil, &p)
		return p["current_step"] != nil
	}, "the rollback never started")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	eventstest.Eventually(t, 90*time.Second, func() bool {
		term, _ := b.Rollbacks().Terminal(rb.RollbackID)
		return term
	}, "the rollback did not finish on the other instance")
	res, _ := b.Rollbacks().Result(rb.RollbackID, time.Now())
	if !res.Success || res.OperationsExecuted != 4 {
		t.Fatalf("rollback result %+v", res)
	}
	created := map[string]int{}
	_ = nats.Store.Read(context.Background(), events.EventsStream, eventstore.Position{Subjects: []string{events.TypeSubject(events.TaskCreated)}},
		func(e events.Envelope, err error) error {
			var d events.TaskCreatedData
			if err == nil && e.Decode(&d) == nil && d.Compensates != "" {
				created[d.Compensates]++
			}
			return err
		})
	for _, id := range targets {
		if created[id] != 1 {
			t.Fatalf("task %s compensated %d times: %v", id, created[id], created)
		}
	}
}

// TestRestoreRefusedWhileWorkRuns: a pending task blocks a restore (409)
// until it is cancelled; audit readers see the history, viewers do not.
func TestRestoreRefusedWhileWorkRuns(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Workers = 0 // nothing runs: a submitted task stays Pending
	in := startInstance(t, cfg)
	c := adminClient(t, in)
	var cp string
	status, env, _ := c.do(http.MethodPost, "/rollback/checkpoints", map[string]string{"name": "empty"})
	if status != http.StatusCreated || json.Unmarshal(env.Data, &cp) != nil {
		t.Fatalf("checkpoint: %d %s", status, env.Error)
	}
	task := c.submitServers("waiting", false)
	status, env, _ = c.do(http.MethodPost, "/rollback/restore/"+cp, nil)
	if status != http.StatusConflict || !strings.Contains(env.Error, "1 tasks are pending or running") {
		t.Fatalf("restore with a pending task: %d %s", status, env.Error)
	}
	if status, env, _ = c.do(http.MethodPost, "/rollback/checkpoints", map[string]string{"name": "bad name!"}); status != 422 {
		t.Fatalf("bad checkpoint name: %d %s", status, env.Error)
	}
	if status, _, _ = c.do(http.MethodPost, "/rollback/restore/nope", nil); status != http.StatusNotFound {
		t.Fatalf("restore of an unknown checkpoint: %d", status)
	}
	c.ok(http.MethodPost, "/tasks/"+task+"/cancel", nil, nil)
	var msg string
	c.ok(http.MethodPost, "/rollback/restore/"+cp, nil, &msg)
	status, _, header := c.do(http.MethodGet, "/tasks", nil)
	if status != 200 || header.Get("X-Total-Count") != "0" {
		t.Fatalf("after restoring the empty checkpoint: %d, %s tasks", status, header.Get("X-Total-Count"))
	}

	admin := apptest.NewClient(in.ControlURL()).WithToken(c.token)
	for _, u := range []struct{ name, role string }{{"vera", "viewer"}, {"otto", "operator"}} {
		if res := admin.Do(t, http.MethodPost, "/users", map[string]any{"username": u.name, "password": "a long enough passphrase", "roles": []string{u.role}}); res.Status != 201 {
			t.Fatalf("create %s: %d %s", u.name, res.Status, res.Raw)
		}
		session := apptest.NewClient(in.OrchestratorURL()).WithToken(apptest.Login(t, in.ControlURL(), u.name, "a long enough passphrase"))
		for _, path := range []string{"/events", "/state/workflows/" + task + "/history"} {
			if res := session.Do(t, http.MethodGet, path, nil); res.Status != http.StatusForbidden {
				t.Fatalf("%s reads %s: %d", u.role, path, res.Status)
			}
		}
	}
	// The task left the views with the restore; its history did not.
	var hist []historyAnswer
	c.ok(http.MethodGet, "/state/workflows/"+task+"/history", nil, &hist)
	if len(hist) != 2 || hist[0].Type != "TaskCreated" || hist[1].Type != "TaskStatusChanged" {
		t.Fatalf("task history: %v", types(hist))
	}
}

// TestCorruptedSnapshotsAreRebuilt restarts an instance whose view
// snapshots are corrupted and whose checkpoint object is gone: the views
// are rebuilt from the stream, the restore folded again by recomputing
// the checkpoint, and they equal what they were.
func TestCorruptedSnapshotsAreRebuilt(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SimSpeed = 0
	in := startInstance(t, cfg)
	c := adminClient(t, in)
	first := c.submitServers("one", false)
	c.waitTask(first, 30*time.Second)
	var cp string
	c.do(http.MethodPost, "/rollback/checkpoints", map[string]string{"name": "one"})
	var list []map[string]any
	c.ok(http.MethodGet, "/rollback/checkpoints", nil, &list)
	cp = list[0]["id"].(string)
	second := c.submitServers("two", false)
	c.waitTask(second, 30*time.Second)
	c.ok(http.MethodPost, "/rollback/restore/"+cp, nil, nil)
	before, _ := in.Tasks().Canonical()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Between the two runs, with the service stopped: corrupt every view
	// snapshot and delete the checkpoint's object.
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: cfg.DataDir + "/nats", Sync: "always"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := eventstore.DialInProcess(srv, "corrupt")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	obs, err := js.ObjectStore(ctx, projections.ObjectStoreName)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tasks", "batches", "rollbacks", "checkpoints"} {
		info, err := obs.GetInfo(ctx, name)
		if err != nil {
			t.Fatalf("snapshot %s: %v", name, err)
		}
		if _, err := obs.PutBytes(ctx, name, []byte("garbage")); err != nil {
			t.Fatal(err)
		}
		if err := obs.UpdateMeta(ctx, name, jetstream.ObjectMeta{Name: name, Metadata: info.Metadata}); err != nil {
			t.Fatal(err)
		}
	}
	cps, err := js.ObjectStore(ctx, projections.CheckpointObjectStore)
	if err != nil {
		t.Fatal(err)
	}
	if err := cps.Delete(ctx, projections.ObjectName(cp)); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	srv.Shutdown()
	srv.WaitForShutdown()

	again := startInstance(t, cfg)
	c2 := adminClient(t, again)
	var tasks []taskAnswer
	c2.ok(http.MethodGet, "/tasks", nil, &tasks)
	if len(tasks) != 1 || tasks[0].ID != first {
		t.Fatalf("after the restart the tasks are %+v, want only %s", tasks, first)
	}
	after, _ := again.Tasks().Canonical()
	for id, doc := range before {
		if string(after[id]) != string(doc) {
			t.Fatalf("task view item %s differs after the rebuild:\n%s\n%s", id, after[id], doc)
		}
	}
	if len(after) != len(before) {
		t.Fatalf("%d items after the rebuild, %d before", len(after), len(before))
	}
}
