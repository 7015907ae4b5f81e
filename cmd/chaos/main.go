// Command chaos runs the crash test of `make chaos` against a built
// provisioning binary (see package chaos) and exits 1 when a check
// failed. The seed is printed; give it back with -seed to replay a run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"provisioning/chaos"
)

func main() {
	d := chaos.Default()
	cfg := chaos.Config{Log: os.Stdout}
	bin := flag.String("bin", "bin/provisioning", "the provisioning binary")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the kill times and submissions")
	flag.IntVar(&cfg.Kills, "kills", d.Kills, "SIGKILLs")
	flag.DurationVar(&cfg.Uptime, "uptime", d.Uptime, "longest time between two kills")
	flag.IntVar(&cfg.Operations, "operations", d.Operations, "operations of the batch")
	flag.IntVar(&cfg.ServersPerOperation, "servers", d.ServersPerOperation, "tasks per operation of the batch")
	flag.IntVar(&cfg.Singles, "singles", d.Singles, "single workflows submitted during the run")
	flag.Float64Var(&cfg.SimSpeed, "sim-speed", d.SimSpeed, "simulator time factor")
	flag.StringVar(&cfg.Sync, "sync", d.Sync, "serve's --sync")
	flag.StringVar(&cfg.Dir, "dir", "", "keep data and logs here (default: a temporary directory, removed when the run passes)")
	flag.Parse()
	exe, err := filepath.Abs(*bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.Binary = exe
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos (seed %d): %v\n", cfg.Seed, err)
		os.Exit(2)
	}
	if !rep.OK() {
		os.Exit(1)
	}
}
