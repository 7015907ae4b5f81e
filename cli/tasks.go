package cli

import (
	"flag"
	"fmt"
	"strings"

	"provisioning/client"
)

func runWorkflow(a *app, args []string) error {
	return a.subcommand("workflow", args, map[string]func(*app, []string) error{
		"create": runWorkflowCreate,
	})
}

// submitFlags are the fields every workflow submission has.
type submitFlags struct {
	infra, settings, operation, key string
	check, wait, watch              bool
}

func (f *submitFlags) register(fs *flag.FlagSet, withOperation bool) {
	fs.StringVar(&f.infra, "infra", "", "infrastructure name (required)")
	fs.StringVar(&f.settings, "settings", "", "settings file, e.g. config.ncl")
	fs.BoolVar(&f.check, "check", false, "check mode: a dry run")
	fs.BoolVar(&f.wait, "wait", false, "the provisioning CLI waits for the resources to be ready")
	fs.StringVar(&f.key, "idempotency-key", "", "send this Idempotency-Key: a repeat creates nothing new")
	fs.BoolVar(&f.watch, "watch", false, "watch the task until it ends; exit with its status")
	if withOperation {
		fs.StringVar(&f.operation, "operation", "create", "create or delete")
	}
}

func runWorkflowCreate(a *app, args []string) error {
	if len(args) == 0 {
		return usagef("usage: provisioning workflow create servers|taskserv NAME|cluster TYPE --infra INFRA [flags]")
	}
	kind := args[0]
	var f submitFlags
	var submit func(target string) (string, error)
	want := 1
	switch kind {
	case "servers":
		want = 0
		submit = func(string) (string, error) {
			return a.client.CreateServers(a.ctx, client.ServersRequest{Infra: f.infra, Settings: f.settings, CheckMode: f.check, Wait: f.wait},
				client.WithIdempotencyKey(f.key))
		}
	case "taskserv":
		submit = func(name string) (string, error) {
			return a.client.CreateTaskserv(a.ctx, client.TaskservRequest{Operation: f.operation, Taskserv: name, Infra: f.infra,
				Settings: f.settings, CheckMode: f.check, Wait: f.wait}, client.WithIdempotencyKey(f.key))
		}
	case "cluster":
		submit = func(typ string) (string, error) {
			return a.client.CreateCluster(a.ctx, client.ClusterRequest{Operation: f.operation, ClusterType: typ, Infra: f.infra,
				Settings: f.settings, CheckMode: f.check, Wait: f.wait}, client.WithIdempotencyKey(f.key))
		}
	default:
		return usagef("unknown workflow %q: servers, taskserv or cluster", kind)
	}
	usage := map[string]string{"servers": "servers", "taskserv": "taskserv NAME", "cluster": "cluster TYPE"}[kind]
	fs := a.flags("workflow create "+kind, "workflow create "+usage+" --infra INFRA [--settings FILE] [--check] [--wait] [--watch]")
	f.register(fs, kind != "servers")
	pos, err := a.parse(fs, args[1:], want)
	if err != nil {
		return err
	}
	if f.infra == "" {
		return usagef("--infra is required")
	}
	target := ""
	if len(pos) > 0 {
		target = pos[0]
	}
	id, err := submit(target)
	if err != nil {
		return err
	}
	if a.out.json {
		if err := a.out.JSON(map[string]string{"task_id": id}); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.env.Stdout, id)
	}
	if f.watch {
		return a.watch(id, kindTask)
	}
	return nil
}

func runTasks(a *app, args []string) error {
	return a.subcommand("tasks", args, map[string]func(*app, []string) error{
		"ls":     runTasksList,
		"list":   runTasksList,
		"get":    runTasksGet,
		"cancel": runTasksCancel,
	})
}

// pageFlags are --limit, --offset and --all.
type pageFlags struct {
	limit, offset int
	all           bool
}

func (p *pageFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&p.limit, "limit", 50, "items per page (1-1000)")
	fs.IntVar(&p.offset, "offset", 0, "items to skip")
	fs.BoolVar(&p.all, "all", false, "every page")
}

func (p *pageFlags) options() client.ListOptions {
	return client.ListOptions{Limit: p.limit, Offset: p.offset}
}

// collect returns one page, or every item with --all, and reports on
// stderr when more items follow.
func collect[T any](a *app, p pageFlags, page func(client.ListOptions) (*client.Page[T], error)) ([]T, error) {
	opts := p.options()
	var items []T
	for {
		pg, err := page(opts)
		if err != nil {
			return nil, err
		}
		items = append(items, pg.Items...)
		if !p.all {
			if pg.Total >= 0 {
				a.more(pg.Total, p.offset, len(pg.Items))
			}
			return items, nil
		}
		if !pg.More() || len(pg.Items) == 0 {
			return items, nil
		}
		opts.Offset += len(pg.Items)
	}
}

func runTasksList(a *app, args []string) error {
	fs := a.flags("tasks ls", "tasks ls [--status STATUS] [--batch ID] [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	status := fs.String("status", "", "Pending, Running, Completed, Failed or Cancelled")
	batch := fs.String("batch", "", "only the tasks of this batch")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	tasks, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.Task], error) {
		return a.client.ListTasks(a.ctx, client.TaskFilter{Status: *status, BatchID: *batch, ListOptions: o})
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(tasks))
	}
	rows := make([][]string, len(tasks))
	for i, t := range tasks {
		rows[i] = []string{t.ID, t.Name, t.Status, pct(t.Progress), when(t.CreatedAt), elapsed(t.StartedAt, t.CompletedAt)}
	}
	a.out.table([]string{"ID", "NAME", "STATUS", "PROGRESS", "CREATED", "DURATION"}, rows)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func runTasksGet(a *app, args []string) error {
	fs := a.flags("tasks get", "tasks get TASK_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	t, err := a.client.GetTask(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(t)
	}
	kv := [][2]string{
		{"ID", t.ID}, {"Name", t.Name}, {"Status", t.Status}, {"Progress", pct(t.Progress)},
		{"Step", str(t.CurrentStep)}, {"Command", strings.TrimSpace(t.Command + " " + strings.Join(t.Args, " "))},
		{"Created", when(t.CreatedAt)}, {"Started", whenPtr(t.StartedAt)}, {"Completed", whenPtr(t.CompletedAt)},
		{"Attempts", fmt.Sprint(t.Attempts)},
	}
	if t.BatchID != "" {
		kv = append(kv, [2]string{"Batch", t.BatchID + " / " + t.OperationID})
	}
	kv = append(kv, [2]string{"Output", str(t.Output)}, [2]string{"Error", str(t.Error)})
	a.out.fields(kv)
	return nil
}

func runTasksCancel(a *app, args []string) error {
	fs := a.flags("tasks cancel", "tasks cancel TASK_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	msg, stopped, err := a.client.CancelTask(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(map[string]any{"task_id": pos[0], "message": msg, "stopped": stopped})
	}
	fmt.Fprintln(a.env.Stdout, msg)
	return nil
}
