// Command provbench runs the benchmarks of `make bench` and prints one
// table: each figure beside the baseline measured in the same run. It also
// writes the table to bench/results/results.{json,md}.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"provisioning/bench"
	"provisioning/eventstore"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "natsidle" {
		os.Exit(natsIdle())
	}
	os.Exit(run())
}

func run() int {
	var (
		bin      = flag.String("bin", "bin/provisioning", "the provisioning binary")
		duration = flag.Duration("duration", 4*time.Second, "length of each load phase")
		clients  = flag.Int("clients", 64, "concurrent keep-alive clients")
		syncs    = flag.String("sync", "always,1s", "sync modes to measure, comma-separated")
		out      = flag.String("out", "bench/results", "directory for results.json and results.md")
		only     = flag.String("only", "", "comma-separated sections to run (default all): core,access,memory,batch,eventsout,cluster,replay,dashboard")
		dashOps  = flag.Int("dashboard-ops", 10000, "operations of the dashboard benchmark's big batch")
		dashTask = flag.Int("dashboard-tasks", 100000, "tasks on the dashboard benchmark's tasks page")
		dashPar  = flag.Int("dashboard-parallel", 500, "parallel limit of the dashboard benchmark's big batch (its tasks take 1 s: this sets the rate of status changes)")
		batchOps = flag.Int("batch-ops", 10000, "operations of the batch benchmark")
		child    = flag.Bool("child-batch", false, "internal: run one batch and print its result as JSON")
		noop     = flag.Bool("child-noop", false, "internal: the child batch uses the no-op runner")
		cpuProf  = flag.String("cpuprofile", "", "write a CPU profile of this process (the in-process sections) to this file")
	)
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *child {
		return runChildBatch(*bin, *batchOps, *syncs, *noop)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	exe, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	want := func(s string) bool { return *only == "" || strings.Contains(","+*only+",", ","+s+",") }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rep := bench.NewReport()
	fmt.Printf("provbench on %s\n", rep.Machine)
	fail := func(section string, err error) int {
		fmt.Fprintf(os.Stderr, "%s: %v\n", section, err)
		return 1
	}
	rawRate := 0.0
	for _, mode := range strings.Split(*syncs, ",") {
		opts := bench.CoreOptions{Sync: mode, Clients: *clients, Duration: *duration, CLI: []string{exe, "simulate"}, Log: log}
		if want("core") {
			fmt.Printf("core, sync %s:\n", mode)
			for name, fn := range map[string]func(context.Context, bench.CoreOptions) ([]bench.Row, error){"core path": bench.CorePath, "full stack": bench.Core} {
				rows, err := fn(ctx, opts)
				if err != nil {
					return fail(name, err)
				}
				rep.Add(os.Stdout, rows...)
				for _, r := range rows {
					if r.Name == "raw JetStream sync publishes" && mode == "1s" {
						rawRate = r.Value
					}
				}
			}
			rows, err := bench.SubmitToRunning(ctx, opts, 200)
			if err != nil {
				return fail("submit-to-running", err)
			}
			rep.Add(os.Stdout, rows...)
		}
	}
	if want("access") {
		fmt.Println("access control (go test -bench ./handlers ./auth):")
		rows, err := bench.AccessRows(ctx)
		if err != nil {
			return fail("access", err)
		}
		rep.Add(os.Stdout, rows...)
	}
	if want("batch") {
		fmt.Println("batch:")
		rows, err := batchRows(ctx, exe, *batchOps, rawRate)
		if err != nil {
			return fail("batch", err)
		}
		rep.Add(os.Stdout, rows...)
	}
	if want("eventsout") {
		fmt.Println("events out:")
		rows, err := eventsOutRows(ctx)
		if err != nil {
			return fail("events out", err)
		}
		rep.Add(os.Stdout, rows...)
	}
	if want("cluster") {
		fmt.Println("three-node cluster:")
		rows, err := clusterRows(ctx, exe, *clients, *duration, log)
		if err != nil {
			return fail("cluster", err)
		}
		rep.Add(os.Stdout, rows...)
	}
	if want("memory") {
		fmt.Println("memory:")
		rows, err := memory(ctx, exe)
		if err != nil {
			return fail("memory", err)
		}
		rep.Add(os.Stdout, rows...)
	}
	if want("replay") {
		fmt.Println("replay:")
		res, err := bench.Replay(ctx, bench.ReplayOptions{Log: log})
		if err != nil {
			return fail("replay", err)
		}
		rep.Add(os.Stdout, bench.ReplayRows(res)...)
	}
	if want("dashboard") {
		fmt.Println("dashboard (headless Chromium):")
		rows, err := bench.Dashboard(ctx, bench.DashboardOptions{Operations: *dashOps, Tasks: *dashTask, Parallel: *dashPar, Log: log})
		if err != nil {
			return fail("dashboard", err)
		}
		rep.Add(os.Stdout, rows...)
	}
	fmt.Println()
	rep.Print(os.Stdout)
	if err := rep.Write(*out); err != nil {
		return fail("write results", err)
	}
	fmt.Printf("\nwritten to %s/results.json and results.md\n", *out)
	return 0
}

// memory compares the idle resident memory of `provisioning serve` with a
// bare embedded NATS server with JetStream (this program's natsidle mode).
func memory(ctx context.Context, exe string) ([]bench.Row, error) {
	dir, err := os.MkdirTemp("", "provbench-idle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	natsRSS, err := bench.IdleRSS(ctx, []string{self, "natsidle", filepath.Join(dir, "nats-only")}, "nats ready", 3*time.Second)
	if err != nil {
		return nil, err
	}
	serveRSS, err := bench.IdleRSS(ctx, []string{exe, "serve", "--data-dir", filepath.Join(dir, "serve"), "--nats-listen", "",
		"--orchestrator-addr", "127.0.0.1:0", "--control-addr", "127.0.0.1:0"}, "orchestrator listening", 3*time.Second)
	if err != nil {
		return nil, err
	}
	return []bench.Row{{Section: "core", Setup: "1 node", Name: "resident memory when idle", Unit: "MB", Value: serveRSS,
		Baseline: natsRSS, BaselineName: "embedded NATS + JetStream alone", Target: "< 60 MB", Met: bench.Met(serveRSS < 60)}}, nil
}

func natsIdle() int {
	if len(os.Args) < 3 {
		return 2
	}
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: os.Args[2], Sync: "always"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	nc, err := eventstore.DialInProcess(srv, "idle")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	fmt.Fprintln(os.Stderr, "nats ready")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	srv.Shutdown()
	return 0
}
