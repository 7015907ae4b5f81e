package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/workflow"
)

func clusterInstance(t *testing.T, c *eventstest.Cluster, workers int) *app.Instance {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.NATSURL = c.URLs()
	cfg.Replicas = 3
	cfg.Workers = workers
	return apptest.Start(t, cfg)
}

// A task submitted to instance A is readable on instance B at once, runs
// once, and completes, with every stream replicated three times.
func TestTwoInstancesOnAThreeNodeCluster(t *testing.T) {
	cluster := eventstest.StartCluster(t, 3)
	a := clusterInstance(t, cluster, 2)
	b := clusterInstance(t, cluster, 2)
	ca, cb := apptest.AdminClient(t, a), apptest.AdminClient(t, b)
	var ids []string
	for i := 0; i < 10; i++ {
		id := submit(t, ca, "cluster")
		ids = append(ids, id)
		// Read-after-write across instances: B waits for the stream's
		// last sequence before it answers.
		if res := cb.Do(t, "GET", "/tasks/"+id, nil); res.Status != http.StatusOK {
			t.Fatalf("instance B does not see task %s written on A: %d %s", id, res.Status, res.Raw)
		}
	}
	eventstest.Eventually(t, 60*time.Second, func() bool {
		for _, id := range ids {
			var task workflow.Task
			res := cb.Do(t, "GET", "/tasks/"+id, nil)
			res.Decode(t, &task)
			if task.Status != "Completed" {
				return false
			}
		}
		return true
	}, "tasks did not complete on the cluster")
	for _, id := range ids {
		var task workflow.Task
		ca.Do(t, "GET", "/tasks/"+id, nil).Decode(t, &task)
		if task.Attempts != 1 {
			t.Errorf("task %s ran %d times", id, task.Attempts)
		}
	}
	info, err := a.Store().JetStream().Stream(t.Context(), "PROV_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := info.CachedInfo().Config; cfg.Replicas != 3 {
		t.Fatalf("PROV_EVENTS has %d replicas", cfg.Replicas)
	}
}

// Killing the server that leads the event stream in the middle of running
// tasks loses nothing that was acknowledged: every accepted task completes.
func TestStreamLeaderLossLosesNothing(t *testing.T) {
	cluster := eventstest.StartCluster(t, 3)
	mk := func() *apptest.Client {
		cfg := apptest.Config(t)
		cfg.NATSURL, cfg.Replicas, cfg.Workers, cfg.SimSpeed = cluster.URLs(), 3, 3, 0.05
		return apptest.AdminClient(t, apptest.Start(t, cfg))
	}
	clients := []*apptest.Client{mk(), mk()}
	var accepted []string
	submitSome := func(n int) {
		for i := 0; i < n; i++ {
			c := clients[i%2]
			res := c.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": "ha"})
			if res.Status == http.StatusOK {
				var id string
				res.Decode(t, &id)
				accepted = append(accepted, id)
			} else if res.Status < 500 {
				t.Fatalf("submit: %d %s", res.Status, res.Raw)
			}
		}
	}
	submitSome(10)
	leader := cluster.Leader("PROV_EVENTS")
	if leader < 0 {
		t.Fatal("no leader for PROV_EVENTS")
	}
	cluster.Servers[leader].Shutdown()
	submitSome(10)
	if len(accepted) < 10 {
		t.Fatalf("only %d submissions accepted", len(accepted))
	}
	eventstest.Eventually(t, 90*time.Second, func() bool {
		for _, id := range accepted {
			res := clients[1].Do(t, "GET", "/tasks/"+id, nil)
			if res.Status == http.StatusNotFound {
				t.Fatalf("acknowledged task %s was lost", id)
			}
			var task workflow.Task
			if res.Status != http.StatusOK {
				return false
			}
			res.Decode(t, &task)
			if task.Status != "Completed" {
				return false
			}
		}
		return true
	}, "accepted tasks did not all complete after the leader was lost")
}

// A batch submitted to one of two instances on a three-node R3 cluster
// completes with every task started exactly once; a second batch survives
// the loss of the event stream's leader mid-run: nothing acknowledged is
// lost, and it completes.
func TestBatchesOnAThreeNodeCluster(t *testing.T) {
	cluster := eventstest.StartCluster(t, 3)
	var clients []client
	var ins []*app.Instance
	for range 2 {
		cfg := testConfig(t)
		cfg.NATSURL, cfg.Replicas, cfg.Workers, cfg.SimSpeed = cluster.URLs(), 3, 3, 0.02
		cfg.JobAckWait = 15 * time.Second // a leader election must not look like a dead executor
		in := startInstance(t, cfg)
		ins = append(ins, in)
		clients = append(clients, adminClient(t, in))
	}
	id := clients[0].submit(chainsAndFans("on-cluster", 16, 4, 7))
	if b := clients[1].waitBatch(id, 2*time.Minute); b.Status != "Completed" {
		t.Fatalf("batch ended %s (%v)", b.Status, b.Error)
	}
	nc, err := events.Dial(events.DialConfig{URL: cluster.URLs(), Name: "check"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	store, err := events.NewStore(nc)
	if err != nil {
		t.Fatal(err)
	}
	for task, evs := range taskEvents(t, store, id, 4) {
		if created, running, completed := runs(evs); created != 1 || running != 1 || completed != 1 {
			t.Fatalf("task %s: created %d, started %d, completed %d times", task, created, running, completed)
		}
	}

	second := clients[1].submit(chainsAndFans("through-failover", 24, 6, 11))
	deadline := time.Now().Add(time.Minute)
	for done := 0; done < 5; {
		done = 0
		for _, task := range clients[0].batchTasks(second) {
			if task.Status == "Completed" {
				done++
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the second batch did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	leader := cluster.Leader("PROV_EVENTS")
	if leader < 0 {
		t.Fatal("no leader for PROV_EVENTS")
	}
	cluster.Servers[leader].Shutdown()
	b := clients[0].waitBatch(second, 3*time.Minute)
	if b.Status != "Completed" {
		for _, task := range clients[0].batchTasks(second) {
			if task.Status != "Completed" {
				var full map[string]any
				clients[0].ok(http.MethodGet, "/tasks/"+task.ID, nil, &full)
				t.Logf("task %s: %v error=%v attempts=%v", task.Name, task.Status, full["error"], full["attempts"])
			}
		}
		t.Fatalf("after the leader's loss the batch ended %s", b.Status)
	}
	// The stream's reads go to the new leader; wait until it answers.
	eventstest.Eventually(t, 30*time.Second, func() bool {
		_, err := store.LastSeq(context.Background(), events.EventsStream)
		return err == nil
	}, "the event stream has no leader")
	for task, evs := range taskEvents(t, store, second, 6) {
		if created, _, completed := runs(evs); created != 1 || completed != 1 {
			t.Fatalf("task %s: created %d, completed %d times", task, created, completed)
		}
	}
}
