package replay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/replay"
)

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	os.Exit(m.Run())
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := replay.Main(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestReplayAgainstAnInstance runs work, a checkpoint, a rollback and a
// restore on an instance, then replays its stream: over NATS while it
// runs (compared with its API too), and from its data directory once it
// has stopped.
func TestReplayAgainstAnInstance(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.NATSListen = "127.0.0.1:0"
	in, err := app.Start(context.Background(), cfg, apptest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeInstance := func() {
		if !closed {
			closed = true
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = in.Close(ctx)
		}
	}
	t.Cleanup(closeInstance)
	token := apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword)
	c := apptest.NewClient(in.OrchestratorURL()).WithToken(token)

	var ids []string
	for _, infra := range []string{"alpha", "beta"} {
		res := c.Do(t, http.MethodPost, "/workflows/servers/create", map[string]any{"infra": infra})
		var id string
		res.Decode(t, &id)
		ids = append(ids, id)
	}
	res := c.Do(t, http.MethodPost, "/batch/execute", map[string]any{"name": "replayed", "operations": []map[string]any{
		{"id": "srv", "type": "server_batch", "server_configs": []map[string]string{{"name": "a"}, {"name": "b"}}},
		{"id": "ts", "type": "taskserv_batch", "dependencies": []string{"srv"}, "taskservs": []string{"kubernetes"}},
	}})
	var batch struct {
		BatchID string `json:"batch_id"`
	}
	res.Decode(t, &batch)
	waitQuiet(t, c)
	res = c.Do(t, http.MethodPost, "/rollback/checkpoints", map[string]string{"name": "cp"})
	var cp string
	res.Decode(t, &cp)
	var detail struct {
		Seq uint64 `json:"seq"`
	}
	c.Do(t, http.MethodGet, "/rollback/checkpoints/"+cp, nil).Decode(t, &detail)
	res = c.Do(t, http.MethodPost, "/workflows/taskserv/create", map[string]any{"taskserv": "cilium", "infra": "gamma"})
	var later string
	res.Decode(t, &later)
	waitQuiet(t, c)
	if res := c.Do(t, http.MethodPost, "/rollback/execute", map[string]any{"operation_ids": []string{batch.BatchID + "/ts"}}); res.Status != 200 {
		t.Fatalf("rollback: %d %s", res.Status, res.Raw)
	}
	if res := c.Do(t, http.MethodPost, "/rollback/restore/"+cp, nil); res.Status != 200 {
		t.Fatalf("restore: %d %s", res.Status, res.Raw)
	}

	// The listener admits only the nkey the instance generated.
	if code, _, errOut := run(t, "--nats-url", in.NATSURL()); code != replay.ExitUnavailable || !strings.Contains(strings.ToLower(errOut), "authorization") {
		t.Fatalf("replay without the instance's nkey: exit %d %s", code, errOut)
	}
	nkey := in.NATSKeyFile()
	code, out, errOut := run(t, "--nats-url", in.NATSURL(), "--nats-nkey", nkey, "--orchestrator", in.OrchestratorURL(), "--token", token)
	if code != replay.ExitEqual || !strings.Contains(out, "no differences") {
		t.Fatalf("replay of a running instance: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "--nats-url", in.NATSURL(), "--nats-nkey", nkey, "--until-seq", strconv.FormatUint(detail.Seq, 10), "-o", "json")
	var then struct {
		Seq   uint64            `json:"seq"`
		Tasks []json.RawMessage `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(out), &then); code != 0 || err != nil || then.Seq != detail.Seq || len(then.Tasks) != 5 {
		t.Fatalf("until the checkpoint: exit %d, %d tasks (%v)\n%s%s", code, len(then.Tasks), err, out, errOut)
	}
	code, out, _ = run(t, "--nats-url", in.NATSURL(), "--nats-nkey", nkey, "--until-time", time.Now().UTC().Format(time.RFC3339Nano))
	if code != 0 || !strings.Contains(out, "TASK") || !strings.Contains(out, ids[0]) {
		t.Fatalf("until now: exit %d\n%s", code, out)
	}
	code, _, errOut = run(t, "--data-dir", cfg.DataDir)
	if code != replay.ExitUnavailable || !strings.Contains(errOut, "in use") {
		t.Fatalf("replay of the data directory of a running instance: exit %d %s", code, errOut)
	}

	closeInstance()
	code, out, errOut = run(t, "--data-dir", cfg.DataDir)
	if code != replay.ExitEqual || !strings.Contains(out, "no differences") || !strings.Contains(out, "tasks from its snapshot at seq") {
		t.Fatalf("replay of a stopped instance's data: exit %d\n%s%s", code, out, errOut)
	}
}

// waitQuiet waits until no task is pending or running.
func waitQuiet(t *testing.T, c *apptest.Client) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var tasks []struct {
			Status string `json:"status"`
		}
		c.Do(t, http.MethodGet, "/tasks?limit=1000", nil).Decode(t, &tasks)
		busy := false
		for _, task := range tasks {
			busy = busy || task.Status == "Pending" || task.Status == "Running"
		}
		var batches []struct {
			Status string `json:"status"`
		}
		c.Do(t, http.MethodGet, "/batch/operations", nil).Decode(t, &batches)
		for _, b := range batches {
			busy = busy || b.Status == "Running"
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("work still running")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCompareFindsDifferences folds the v1 fixture into two sets of
// views, one missing the last event, and expects the difference named.
func TestCompareFindsDifferences(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../projections/testdata/v1.events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []events.Envelope
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		e, err := events.Parse(sc.Bytes(), uint64(len(evs)+1))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	full, again, short := replay.NewViews(), replay.NewViews(), replay.NewViews()
	for i, e := range evs {
		for j, v := range full.All() {
			if err := v.Apply(e); err != nil {
				t.Fatalf("full: event %d (%s): %v", e.Seq, e.Type, err)
			}
			if err := again.All()[j].Apply(e); err != nil {
				t.Fatalf("again: event %d (%s): %v", e.Seq, e.Type, err)
			}
			if i < len(evs)-1 {
				if err := short.All()[j].Apply(e); err != nil {
					t.Fatalf("short: event %d (%s): %v", e.Seq, e.Type, err)
				}
			}
		}
	}
	diffs, err := replay.Compare(full, again, "a", "b")
	if err != nil || len(diffs) != 0 {
		t.Fatalf("two folds of the same events differ: %v %v", diffs, err)
	}
	diffs, err = replay.Compare(full, short, "replay", "live")
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	found := false
	for _, d := range diffs {
		found = found || (d.ID == last.AggregateID && strings.Contains(d.What, "replay"))
	}
	if !found {
		t.Fatalf("the missing %s of %s was not reported: %v", last.Type, last.AggregateID, diffs)
	}
}
