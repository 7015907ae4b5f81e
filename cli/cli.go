// Package cli is the command line of provisioning: login, workflows,
// batches, tasks, checkpoints, rollbacks, users, policies, audit,
// webhooks, watch and events, as subcommands of the one binary. It talks
// to the servers through package client only; cmd/provisioning hands it
// the arguments and the process's streams.
package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Env is what a command may touch of the process: its streams, its
// environment and where its files live.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// ConfigDir holds config.toml and credentials.json; the environment
	// variable PROVISIONING_CONFIG_DIR overrides it.
	ConfigDir string
	// HTTPClient is used for every call (nil: a client with a 60 s
	// timeout).
	HTTPClient *http.Client
}

// Exit codes (docs/cli.md).
const (
	ExitOK          = 0
	ExitFailed      = 1 // an error, or a watched workflow that did not complete
	ExitUsage       = 2
	ExitNotFound    = 3
	ExitAuth        = 4 // not logged in, session expired, 401, 403
	ExitInvalid     = 5 // local validation, 400, 413, 422
	ExitConflict    = 6 // 409
	ExitUnavailable = 7 // connection refused, timeouts, 429, 5xx
	ExitInterrupted = 130
)

// command is one top-level command.
type command struct {
	summary string
	run     func(a *app, args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"login":      {"sign in and store the token", runLogin},
		"logout":     {"revoke the token and forget it", runLogout},
		"whoami":     {"show who the stored token is for", runWhoami},
		"workflow":   {"submit a workflow: workflow create servers|taskserv|cluster", runWorkflow},
		"tasks":      {"tasks ls|get|cancel", runTasks},
		"batch":      {"batch submit|ls|get|cancel", runBatch},
		"checkpoint": {"checkpoint create|ls|get", runCheckpoint},
		"rollback":   {"rollback --checkpoint ID | --operations IDS; rollback restore|stats", runRollback},
		"state":      {"state progress|snapshots|metrics|health|stats", runState},
		"users":      {"users ls|get|create|update|delete|mfa", runUsers},
		"policies":   {"policies ls|get|create|update|delete", runPolicies},
		"audit":      {"audit ls", runAudit},
		"webhooks":   {"webhooks ls|get|create|delete|deliveries|retry", runWebhooks},
		"watch":      {"follow a task or batch live until it ends", runWatch},
		"events":     {"events tail: follow the event stream", runEvents},
	}
}

// Has reports whether name is a command of this package.
func Has(name string) bool { _, ok := commands[name]; return ok }

// Usage lists the commands, for the binary's help.
func Usage() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  provisioning %-11s %s\n", n, commands[n].summary)
	}
	b.WriteString(`
Every command takes --server (PROVISIONING_SERVER, default http://localhost:9090),
--control-server (PROVISIONING_CONTROL_SERVER, default http://localhost:9080),
-o table|json and --no-color. Exit codes: 0 ok, 1 failed, 2 usage, 3 not found,
4 auth, 5 invalid, 6 conflict, 7 unavailable, 130 interrupted (docs/cli.md).
`)
	return b.String()
}

// Main runs the command args[0] with the rest of args and returns the
// process exit code. Errors go to env.Stderr with the server's message.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, Usage())
		return ExitUsage
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "provisioning: unknown command %q\n\n%s", args[0], Usage())
		return ExitUsage
	}
	a := &app{ctx: ctx, env: env, name: args[0]}
	err := cmd.run(a, args[1:])
	return a.report(err)
}

// exitError carries an exit code chosen by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usagef is a usage error (exit 2).
func usagef(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode ends a command with code and no message (a watched workflow
// that failed has said so already).
func exitCode(code int) error { return &exitError{code: code} }
