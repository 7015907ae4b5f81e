package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/webhooks"
	"provisioning/workflow"
)

func clusterInstance(t *testing.T, c *eventstest.Cluster, workers int) *app.Instance {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.NATSURL = c.URLs()
	cfg.Replicas = 3
	cfg.Workers = workers
	// The product's ack wait, not the tests' short one: the test checks
	// that each task runs once, and a cluster of three on a loaded
	// machine may stall a heartbeat for longer than 3 s (the job would
	// then be redelivered, as it should be after a silence that long).
	cfg.JobAckWait = app.DefaultConfig().JobAckWait
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
			if res.Status != http.StatusOK {
				return false // a 503 while the cluster is busy: ask again
			}
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
	nc, err := eventstore.Dial(eventstore.DialConfig{URL: cluster.URLs(), Name: "check"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	store, err := eventstore.NewStore(nc)
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

// Two instances on one NATS: a webhook endpoint gets each event once (not
// once per instance), and a WebSocket client of instance B sees the
// events of a task submitted through instance A.
func TestTwoInstancesDeliverOnceAndStreamEverything(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{} // webhook-id -> requests
	events := map[string]int{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Event string `json:"event"`
			Data  struct {
				TaskID string `json:"task_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		events[p.Event+" "+p.Data.TaskID]++
		mu.Unlock()
	}))
	defer rc.Close()
	hooks := func(cfg *app.Config) {
		cfg.Webhooks.AllowPrivateTargets = true
		cfg.Webhooks.Endpoints = []webhooks.EndpointConfig{{URL: rc.URL + "/ci", Events: []string{"task.completed"}, Secret: "a-shared-webhook-secret"}}
	}
	cfgA := testConfig(t)
	cfgA.NATSListen = "127.0.0.1:0"
	hooks(&cfgA)
	a := startInstance(t, cfgA)
	cfgB := testConfig(t)
	cfgB.NATSURL, cfgB.NATSNkey = a.NATSURL(), a.NATSKeyFile()
	hooks(&cfgB)
	b := startInstance(t, cfgB)

	token := apptest.Login(t, b.ControlURL(), "admin", apptest.AdminPassword)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.OrchestratorURL(), "http")+"/ws?events=TaskStatusChanged&token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	ca := adminClient(t, a)
	var ids []string
	for i := 0; i < 5; i++ {
		var id string
		ca.ok(http.MethodPost, "/workflows/servers/create", map[string]any{"infra": fmt.Sprintf("both%d", i)}, &id)
		ids = append(ids, id)
	}
	completed := map[string]bool{}
	for len(completed) < len(ids) {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("instance B's WebSocket: %v (saw %d of %d completions)", err, len(completed), len(ids))
		}
		var f struct {
			Metadata struct {
				TaskID string `json:"task_id"`
				Status string `json:"status"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(data, &f)
		if f.Metadata.Status == "completed" {
			completed[f.Metadata.TaskID] = true
		}
	}
	eventstest.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(ids)
	}, "each completion delivered")
	// Both instances' logs agree: one delivery per event, one attempt each.
	for _, in := range []*app.Instance{a, b} {
		eventstest.Eventually(t, 10*time.Second, func() bool {
			log, total := in.Webhooks().Deliveries(webhooks.ConfigID(rc.URL+"/ci"), "delivered", 0, 100)
			if total != len(ids) {
				return false
			}
			for _, d := range log {
				if d.Attempt != 1 {
					t.Fatalf("delivery %s took %d attempts", d.ID, d.Attempt)
				}
			}
			return true
		}, "the delivery log shows one delivery per completion")
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range got {
		if n != 1 {
			t.Fatalf("delivery %s arrived %d times", id, n)
		}
	}
	for _, id := range ids {
		if events["task.completed "+id] != 1 {
			t.Fatalf("task %s: %d deliveries of task.completed, want 1", id, events["task.completed "+id])
		}
	}
}
