// Package simulator is the default provisioning CLI: a stand-in for a cloud
// provider that the executors run as a real child process. It accepts the
// CLI's commands (servers, taskserv and cluster, each create and delete),
// takes realistic, configurable time, prints progress lines, supports
// --check as a dry run, fails on demand, and keeps its "cloud" in a state
// directory so a delete really undoes a create.
//
// Environment:
//
//	PROVISIONING_SIM_STATE  state path: resources/ and journal.jsonl live in its
//	                        directory (default ./data/simulator/state.json)
//	PROVISIONING_SIM_SPEED  time factor: 1 realistic (about 15 s a task), 0 instant
//	PROVISIONING_SIM_FAIL   regexp; a command whose resource's own name (the
//	                        server, taskserv or cluster; the infra for a servers
//	                        command without a server name) matches it fails at
//	                        about 60 % (default ^fail)
//	PROVISIONING_TASK_ID, PROVISIONING_ATTEMPT  set by the executor; recorded
//	                        in the journal beside the state file
package simulator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Command is one parsed invocation.
type Command struct {
	Workflow, Operation, Target string
	Infra, Settings, Provider   string
	Server                      map[string]string
	Check, Wait                 bool
}

// Env is what the simulator reads from its environment.
type Env struct {
	StatePath string
	Speed     float64
	Fail      *regexp.Regexp
	TaskID    string
	Attempt   string
}

// EnvFrom reads Env with getenv.
func EnvFrom(getenv func(string) string) (Env, error) {
	e := Env{StatePath: getenv("PROVISIONING_SIM_STATE"), Speed: 1, TaskID: getenv("PROVISIONING_TASK_ID"), Attempt: getenv("PROVISIONING_ATTEMPT")}
	if e.StatePath == "" {
		e.StatePath = "data/simulator/state.json"
	}
	if v := getenv("PROVISIONING_SIM_SPEED"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return e, fmt.Errorf("PROVISIONING_SIM_SPEED=%q: want a number >= 0", v)
		}
		e.Speed = f
	}
	pattern := "^fail"
	if v := getenv("PROVISIONING_SIM_FAIL"); v != "" {
		pattern = v
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return e, fmt.Errorf("PROVISIONING_SIM_FAIL: %w", err)
	}
	e.Fail = re
	return e, nil
}

// Parse reads `<workflow> <operation> [target] [flags]`.
func Parse(args []string) (Command, error) {
	var c Command
	if len(args) < 2 {
		return c, errors.New("usage: simulate servers|taskserv|cluster create|delete [name] --infra NAME [--settings FILE] [--check] [--wait]")
	}
	c.Workflow, c.Operation = args[0], args[1]
	rest := args[2:]
	switch c.Workflow {
	case "servers":
	case "taskserv", "cluster":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return c, fmt.Errorf("%s %s: name the %s", c.Workflow, c.Operation, c.Workflow)
		}
		c.Target, rest = rest[0], rest[1:]
	default:
		return c, fmt.Errorf("unknown command %q (servers, taskserv, cluster)", c.Workflow)
	}
	if c.Operation != "create" && c.Operation != "delete" {
		return c, fmt.Errorf("unknown operation %q (create, delete)", c.Operation)
	}
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Infra, "infra", "", "")
	fs.StringVar(&c.Settings, "settings", "", "")
	fs.StringVar(&c.Provider, "provider", "", "")
	fs.BoolVar(&c.Check, "check", false, "")
	fs.BoolVar(&c.Wait, "wait", false, "")
	server := map[string]*string{}
	for _, k := range []string{"name", "plan", "zone", "image", "storage", "hostname"} {
		server[k] = fs.String(k, "", "")
	}
	if err := fs.Parse(rest); err != nil {
		return c, err
	}
	if c.Infra == "" {
		return c, errors.New("--infra is required")
	}
	c.Server = map[string]string{}
	for k, v := range server {
		if *v != "" {
			c.Server[k] = *v
		}
	}
	return c, nil
}

// Main runs the simulator and returns its exit code.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd, err := Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	env, err := EnvFrom(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sim := &run{cmd: cmd, env: env, out: stdout, errw: stderr}
	return sim.main(ctx)
}

type run struct {
	cmd  Command
	env  Env
	out  io.Writer
	errw io.Writer
}

func (r *run) main(ctx context.Context) int {
	state, err := OpenState(r.env.StatePath)
	if err != nil {
		fmt.Fprintln(r.errw, "error:", err)
		return 1
	}
	release, overlap, err := state.Start(r.env.TaskID, r.env.Attempt)
	if err != nil {
		fmt.Fprintln(r.errw, "error:", err)
		return 1
	}
	code := r.steps(ctx, state)
	if err := release(code); err != nil {
		fmt.Fprintln(r.errw, "warning:", err)
	}
	if overlap {
		fmt.Fprintln(r.errw, "warning: another run of this task was in progress")
	}
	return code
}

func (r *run) steps(ctx context.Context, state *State) int {
	resources := r.resources()
	steps := r.plan(resources)
	failAt := -1
	if name := r.failing(); name != "" {
		failAt = len(steps) * 6 / 10
	}
	for i, step := range steps {
		fmt.Fprintf(r.out, "{\"progress\": %d, \"step\": %q, \"total_steps\": %d}\n", i*100/len(steps), step.name, len(steps))
		if i == failAt {
			fmt.Fprintf(r.errw, "error: %s %s failed at %q: the provider refused %s (simulated failure)\n",
				r.cmd.Workflow, r.cmd.Operation, step.name, r.failing())
			return 1
		}
		if !r.sleep(ctx, step.base) {
			fmt.Fprintf(r.errw, "interrupted during %q\n", step.name)
			return 143
		}
	}
	if r.cmd.Check {
		fmt.Fprintf(r.out, "Check mode: would %s %s; nothing changed\n", r.cmd.Operation, describe(resources))
		return 0
	}
	changed, err := state.Apply(r.cmd.Operation, resources, r.env.TaskID)
	if err != nil {
		fmt.Fprintln(r.errw, "error:", err)
		return 1
	}
	verb := map[string]string{"create": "created", "delete": "deleted"}[r.cmd.Operation]
	if changed == 0 {
		fmt.Fprintf(r.out, "Nothing to do: %s already %s\n", describe(resources), verb)
		return 0
	}
	fmt.Fprintf(r.out, "Successfully %s %s\n", verb, describe(resources))
	return 0
}

// resources names what the command creates or deletes, as state keys.
func (r *run) resources() []string {
	c := r.cmd
	switch {
	case c.Workflow == "servers" && c.Server["name"] != "":
		return []string{"servers/" + c.Infra + "/" + c.Server["name"]}
	case c.Workflow == "servers":
		var out []string
		for i := 1; i <= 3; i++ {
			out = append(out, fmt.Sprintf("servers/%s/%s-srv-%02d", c.Infra, c.Infra, i))
		}
		return out
	}
	return []string{c.Workflow + "/" + c.Infra + "/" + c.Target}
}

func describe(resources []string) string {
	kind := strings.SplitN(resources[0], "/", 2)[0]
	if len(resources) == 1 {
		parts := strings.Split(resources[0], "/")
		return strings.TrimSuffix(kind, "s") + " " + parts[len(parts)-1]
	}
	return fmt.Sprintf("%d %s", len(resources), kind)
}

// failing returns the name of the resource the command acts on when the
// failure pattern matches it. That is the resource's own name (the
// server's, the taskserv's, the cluster's), never the infra it lives in:
// a batch named "failing" gives its tasks that infra, and must not fail
// healthy servers. Only a servers command without a server name acts on
// the infra's servers as a whole, and is named by the infra.
func (r *run) failing() string {
	c := r.cmd
	name := c.Infra
	switch {
	case c.Server["name"] != "":
		name = c.Server["name"]
	case c.Target != "":
		name = c.Target
	}
	if r.env.Fail.MatchString(name) {
		return name
	}
	return ""
}

type step struct {
	name string
	base time.Duration
}

func (r *run) plan(resources []string) []step {
	c := r.cmd
	what := describe(resources)
	title := strings.ToUpper(c.Target[:min(1, len(c.Target))]) + c.Target[min(1, len(c.Target)):]
	if c.Operation == "delete" {
		return []step{{"Checking " + what, time.Second}, {"Draining " + what, 2 * time.Second},
			{"Deleting " + what, 4 * time.Second}, {"Releasing resources", time.Second}}
	}
	switch c.Workflow {
	case "servers":
		return []step{{"Validating settings", time.Second}, {"Reserving network", 2 * time.Second},
			{"Creating " + what, 6 * time.Second}, {"Waiting for boot", 4 * time.Second},
			{"Configuring SSH access", 2 * time.Second}, {"Registering DNS", time.Second}}
	case "taskserv":
		return []step{{"Checking prerequisites", time.Second}, {"Downloading " + title, 3 * time.Second},
			{"Installing " + title, 5 * time.Second}, {"Configuring " + title, 2 * time.Second},
			{"Starting " + title, 2 * time.Second}, {"Verifying " + title + " health", time.Second}}
	}
	return []step{{"Planning cluster", time.Second}, {"Provisioning control plane", 5 * time.Second},
		{"Joining nodes", 4 * time.Second}, {"Deploying " + title, 3 * time.Second}, {"Verifying cluster", 2 * time.Second}}
}

// sleep waits base×speed with a jitter of ±25 % fixed by the task and the
// step, so a run is reproducible. It reports false when interrupted.
func (r *run) sleep(ctx context.Context, base time.Duration) bool {
	if r.env.Speed == 0 {
		return ctx.Err() == nil
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", r.env.TaskID, base)
	jitter := 0.75 + float64(h.Sum32()%500)/1000
	d := time.Duration(float64(base) * r.env.Speed * jitter)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
