// Command provisioning is the whole product in one binary: `serve` runs
// the orchestrator and the control center, `simulate` is the default
// provisioning CLI the executors run.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"provisioning/executors/simulator"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `provisioning: an event-sourced infrastructure provisioning orchestrator

Usage:
  provisioning serve [flags]       run the orchestrator (:9090) and control center (:9080)
  provisioning simulate ...        the simulated provisioning CLI the executors run
  provisioning nats [flags]        a NATS server with JetStream (used by make cluster)

Run 'provisioning <command> -h' for the flags of a command.
`

// Main runs one subcommand and returns the process exit code.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return serve(ctx, args[1:], getenv, stderr)
	case "simulate":
		return simulator.Main(args[1:], getenv, stdout, stderr)
	case "nats":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return natsServer(ctx, args[1:], stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return 2
}
