package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"provisioning/bench"
)

// batchRun is one batch measurement, made in a child process so that its
// peak resident memory is its own.
type batchRun struct {
	Name, Sync, MemLimit string
	Noop                 bool
}

// batchRows runs the batch of ops operations with the no-op runner (the
// scheduler's own cost) in both sync modes, with and without a soft
// memory limit, and with the simulator. The baseline of the no-op run is
// what the event store allows: the raw publish rate of this run divided
// by the events a task costs.
func batchRows(ctx context.Context, exe string, ops int, rawRate float64) ([]bench.Row, error) {
	var rows []bench.Row
	label := fmt.Sprintf("%d ops", ops)
	for _, run := range []batchRun{
		{"no-op runner", "1s", "", true}, {"no-op runner, GOMEMLIMIT=250MiB", "1s", "250MiB", true},
		{"no-op runner", "always", "", true}, {"simulator, speed 0", "1s", "", false},
	} {
		res, err := childBatch(ctx, exe, ops, run)
		if err != nil {
			return nil, err
		}
		if res.Status != "Completed" {
			return nil, fmt.Errorf("batch ended %s", res.Status)
		}
		fmt.Println("   ", run.Name+":", res)
		setup := "1 node, sync " + run.Sync
		name := fmt.Sprintf("%s (%d tasks), %s: time to Completed", label, res.Tasks, run.Name)
		target, limit := "< 5 s", 5*time.Second
		if !run.Noop {
			target, limit = "< 20 s", 20*time.Second
		}
		rows = append(rows, bench.Row{Section: "batch", Setup: setup, Name: name, Unit: "s", Value: res.Elapsed.Seconds(),
			Target: target, Met: bench.Met(ops == 10000 && res.Elapsed < limit)})
		tps := bench.Row{Section: "batch", Setup: setup, Name: run.Name + ": tasks per second", Unit: "tasks/s", Value: res.TasksPerSecond}
		if run.Noop && run.Sync == "1s" && rawRate > 0 {
			tps.Baseline, tps.BaselineName = rawRate/res.EventsPerTask, "raw publishes / events per task"
		}
		rows = append(rows, tps,
			bench.Row{Section: "batch", Setup: setup, Name: run.Name + ": CPU per task (orchestrator + NATS)", Unit: "ms", Value: float64(res.CPUPerTask.Microseconds()) / 1000},
			bench.Row{Section: "batch", Setup: setup, Name: run.Name + ": events appended per task", Unit: "events", Value: res.EventsPerTask},
			bench.Row{Section: "batch", Setup: setup, Name: run.Name + ": peak resident memory", Unit: "MB", Value: res.PeakRSSMB,
				Target: "< 300 MB", Met: bench.Met(res.PeakRSSMB < 300)})
	}
	return rows, nil
}

// childBatch runs one batch in a child process (this program with
// -child-batch) and reads its result.
func childBatch(ctx context.Context, exe string, ops int, run batchRun) (bench.Result, error) {
	self, err := os.Executable()
	if err != nil {
		return bench.Result{}, err
	}
	args := []string{"-child-batch", "-bin", exe, "-batch-ops", strconv.Itoa(ops), "-sync", run.Sync}
	if run.Noop {
		args = append(args, "-child-noop")
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = os.Environ()
	if run.MemLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+run.MemLimit)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return bench.Result{}, fmt.Errorf("batch child: %w", err)
	}
	var res bench.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("batch child answer %q: %w", out, err)
	}
	return res, nil
}

// runChildBatch is the child's side: one batch, its result as JSON on
// stdout.
func runChildBatch(exe string, ops int, sync string, noop bool) int {
	opts := bench.Options{Operations: ops, Sync: sync}
	if noop {
		opts.Runner, opts.Workers = bench.NoopRunner{}, 16
	} else {
		opts.CLI, opts.Env = []string{exe, "simulate"}, []string{"PROVISIONING_SIM_SPEED=0"}
	}
	res, err := bench.Batch(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batch:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// eventsOutRows: the WebSocket fan-out to 1,000 clients beside the same
// run with one client, and webhook deliveries to 10 endpoints beside
// plain HTTP posts of the same bodies to the same kind of receiver.
func eventsOutRows(ctx context.Context) ([]bench.Row, error) {
	one, err := bench.WebSocketFanout(ctx, bench.WebSocketFanoutConfig{Clients: 1, Events: 2000, Rate: 200})
	if err != nil {
		return nil, err
	}
	many, err := bench.WebSocketFanout(ctx, bench.WebSocketFanoutConfig{Clients: 1000, Events: 2000, Rate: 200})
	if err != nil {
		return nil, err
	}
	fmt.Println("   ", many)
	hooks, err := bench.WebhookDelivery(ctx, bench.WebhookDeliveryConfig{Endpoints: 10, Events: 1000})
	if err != nil {
		return nil, err
	}
	fmt.Println("   ", hooks)
	plain, failed := plainPosts(ctx, hooks.Deliveries, 40)
	if failed > 0 {
		fmt.Printf("    plain HTTP POSTs: %d of %d failed, left out of the baseline rate\n", failed, hooks.Deliveries)
	}
	if plain == 0 {
		return nil, fmt.Errorf("plain HTTP POSTs: none of %d succeeded", hooks.Deliveries)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	setup := "1 node"
	return []bench.Row{
		{Section: "events out", Setup: setup, Name: "WebSocket: frames/s to 1,000 clients (200 events/s)", Unit: "frames/s", Value: many.FramesPerSec,
			Baseline: one.FramesPerSec * 1000, BaselineName: "1 client's rate x 1,000"},
		{Section: "events out", Setup: setup, Name: "WebSocket: append to receipt p50, 1,000 clients", Unit: "ms", Value: ms(many.P50),
			Baseline: ms(one.P50), BaselineName: "1 client"},
		{Section: "events out", Setup: setup, Name: "WebSocket: append to receipt p99, 1,000 clients", Unit: "ms", Value: ms(many.P99),
			Baseline: ms(one.P99), BaselineName: "1 client"},
		{Section: "events out", Setup: setup, Name: "webhooks: deliveries/s, 10 endpoints", Unit: "deliveries/s", Value: hooks.DeliveriesPerSec,
			Baseline: plain, BaselineName: "plain HTTP POSTs, 40 at once"},
		{Section: "events out", Setup: setup, Name: "webhooks: append to receipt p99", Unit: "ms", Value: ms(hooks.P99)},
	}, nil
}

// plainPosts is the webhook baseline: n POSTs of a delivery-sized body to
// a local receiver, c at once, with nothing else around them. It returns
// the rate of successful (2xx) answers and the number of POSTs that
// failed, which the rate leaves out.
func plainPosts(ctx context.Context, n, c int) (rate float64, failed int) {
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer rc.Close()
	body := strings.Repeat("x", 600)
	hc := bench.NewClient(c)
	var next, ok, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				res, err := hc.Post(rc.URL, "application/json", strings.NewReader(body))
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode/100 == 2 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), int(bad.Load())
}

// clusterRows repeats the submission figures on a three-node cluster with
// R3 streams, baselines measured on the same cluster.
func clusterRows(ctx context.Context, exe string, clients int, d time.Duration, log *slog.Logger) ([]bench.Row, error) {
	dir, err := os.MkdirTemp("", "provbench-cluster-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, err := bench.StartCluster(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer c.Shutdown()
	opts := bench.CoreOptions{NATSURL: c.URLs(), SecretsKeyFile: filepath.Join(dir, "secrets.key"), Replicas: 3, Clients: clients, Duration: d, CLI: []string{exe, "simulate"}, Log: log}
	// Submit-to-Running first: the load phase leaves thousands of jobs in
	// the shared queue of the cluster.
	rows, err := bench.SubmitToRunning(ctx, opts, 100)
	if err != nil {
		return nil, err
	}
	more, err := bench.Core(ctx, opts)
	if err != nil {
		return nil, err
	}
	return append(rows, more...), nil
}
