package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
)

// cutEvents cuts the block files of PROV_EVENTS under a JetStream store
// directory to a third, as a crash of the disk would, and removes the
// stream's index unless keepIndex.
func cutEvents(t *testing.T, storeDir string, keepIndex bool) {
	t.Helper()
	msgs := filepath.Join(storeDir, "jetstream", "$G", "streams", "PROV_EVENTS", "msgs")
	blocks, err := filepath.Glob(filepath.Join(msgs, "*.blk"))
	if err != nil || len(blocks) == 0 {
		t.Fatalf("no block files in %s (%v)", msgs, err)
	}
	for _, b := range blocks {
		info, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(b, info.Size()/3); err != nil {
			t.Fatal(err)
		}
	}
	if !keepIndex {
		if err := os.Remove(filepath.Join(msgs, "index.db")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// submitMany submits n server workflows and returns their ids.
func submitMany(t *testing.T, c *apptest.Client, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		res := c.Do(t, http.MethodPost, "/workflows/servers/create", map[string]any{"infra": fmt.Sprintf("lost-%d", i)})
		if res.Status != http.StatusOK {
			t.Fatalf("submit: %d %s", res.Status, res.Raw)
		}
		var id string
		res.Decode(t, &id)
		ids = append(ids, id)
	}
	return ids
}

// A block file cut short loses acknowledged events. The next start must
// not serve fewer tasks than it acknowledged nor reuse their sequence
// numbers as if nothing happened: it refuses, saying what was lost and
// how to recover; started with --accept-event-loss it goes on with what
// is left, runs new work, and later starts need the flag no more.
func TestTruncatedEventStoreRefusesToStart(t *testing.T) {
	t.Parallel()
	for _, keepIndex := range []bool{false, true} {
		t.Run(fmt.Sprintf("index kept %v", keepIndex), func(t *testing.T) {
			t.Parallel()
			cfg := apptest.Config(t)
			cfg.Workers = 0
			in, orch, _ := apptest.StartAdmin(t, cfg)
			acked := submitMany(t, orch, 60)
			closeInstance(t, in) // its snapshots hold every task
			cutEvents(t, filepath.Join(cfg.DataDir, "nats"), keepIndex)

			_, err := app.Start(context.Background(), cfg, apptest.Logger(t))
			if !errors.Is(err, eventstore.ErrEventsLost) {
				t.Fatalf("start on a truncated store: %v, want ErrEventsLost", err)
			}
			for _, want := range []string{"PROV_EVENTS", "backup", "--accept-event-loss"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal does not mention %q: %v", want, err)
				}
			}
			if keepIndex && !strings.Contains(err.Error(), "missing inside") {
				t.Errorf("the refusal does not say events are missing: %v", err)
			}
			if !keepIndex && !strings.Contains(err.Error(), "snapshot of view tasks") {
				t.Errorf("the refusal does not name the snapshot ahead of the stream: %v", err)
			}

			cfg.AcceptEventLoss = true
			cfg.Workers = 2
			in, orch, _ = apptest.StartAdmin(t, cfg)
			list := orch.Do(t, http.MethodGet, "/tasks?limit=1", nil)
			total, _ := strconv.Atoi(list.Header.Get("X-Total-Count"))
			if list.Status != http.StatusOK || total == 0 || total >= len(acked) {
				t.Fatalf("after accepting the loss: %d, %d tasks of %d acknowledged", list.Status, total, len(acked))
			}
			// New work gets sequence numbers the lost events had: it is
			// delivered to the executors and runs all the same.
			fresh := submitMany(t, orch, 1)[0]
			eventstest.Eventually(t, 30*time.Second, func() bool {
				res := orch.Do(t, http.MethodGet, "/tasks/"+fresh, nil)
				return res.Status == 200 && strings.Contains(string(res.Data), `"status":"Completed"`)
			}, "a task submitted after the loss never completed")
			if res := orch.Do(t, http.MethodGet, "/state/system/health", nil); res.Status != http.StatusOK {
				t.Fatalf("health after accepting the loss: %d %s", res.Status, res.Raw)
			}
			closeInstance(t, in)

			cfg.AcceptEventLoss = false
			in = apptest.Start(t, cfg)
			closeInstance(t, in)
		})
	}
}

// Loss while running (the NATS deployment of --nats-url comes back with
// less than it acknowledged) makes /state/system/health Unhealthy, and it
// stays so: the instance holds views of events that no longer exist.
func TestEventLossWhileRunningIsUnhealthy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := natsOn(t, dir, "127.0.0.1:0", 0)
	addr := hostPort(t, first)
	cfg := testConfig(t)
	cfg.NATSURL = "nats://" + addr
	cfg.Workers = 0
	cfg.RateLimits = noRateLimits
	in := startInstance(t, cfg)
	orch := apptest.AdminClient(t, in)
	submitMany(t, orch, 60)
	if res := orch.Do(t, http.MethodGet, "/tasks?limit=1", nil); res.Status != 200 {
		t.Fatalf("tasks: %d", res.Status)
	}
	first.Shutdown()
	first.WaitForShutdown()
	cutEvents(t, dir, false)
	natsOn(t, dir, addr, 0)
	health := apptest.NewClient(in.OrchestratorURL()).WithoutCheck()
	var res apptest.Response
	eventstest.Eventually(t, 60*time.Second, func() bool {
		res = health.Do(t, http.MethodGet, "/state/system/health", nil)
		return res.Status == http.StatusServiceUnavailable && strings.Contains(string(res.Raw), "lost")
	}, "health never reported the loss")
	if !strings.Contains(string(res.Raw), "PROV_EVENTS") {
		t.Fatalf("health: %s", res.Raw)
	}
	// New events do not make it healthy again.
	submitMany(t, orch, 5)
	if res := health.Do(t, http.MethodGet, "/state/system/health", nil); res.Status != http.StatusServiceUnavailable {
		t.Fatalf("health after more events: %d %s", res.Status, res.Raw)
	}
	closeNow(t, in)
}
