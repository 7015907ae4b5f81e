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
	"path/filepath"
	"syscall"

	"provisioning/cli"
	"provisioning/executors/simulator"
	"provisioning/replay"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

var usage = `provisioning: an event-sourced infrastructure provisioning orchestrator

Usage:
  provisioning serve [flags]       run the orchestrator (:9090) and control center (:9080)
  provisioning simulate ...        the simulated provisioning CLI the executors run
  provisioning nats [flags]        a NATS server with JetStream (used by make cluster)
  provisioning replay [flags]      rebuild the views from the event stream and compare (docs/recovery.md)
  provisioning secrets-key new|rotate|show [flags]
                                   the key file sealing secrets at rest (docs/deployment.md)

Client commands (docs/cli.md):
` + cli.Usage() + `
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
	case "replay":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return replay.Main(ctx, args[1:], getenv, stdout, stderr)
	case "secrets-key":
		return secretsKey(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if cli.Has(args[0]) {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return cli.Main(ctx, args, cli.Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv, ConfigDir: configDir()})
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return 2
}

// configDir is where the client commands keep config.toml and the
// stored token: the user's configuration directory, or none (then only
// PROVISIONING_CONFIG_DIR works).
func configDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "provisioning")
}
