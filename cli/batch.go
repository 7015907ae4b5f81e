package cli

import (
	"fmt"
	"strings"

	"provisioning/client"
)

func runBatch(a *app, args []string) error {
	return a.subcommand("batch", args, map[string]func(*app, []string) error{
		"submit": runBatchSubmit,
		"ls":     runBatchList,
		"list":   runBatchList,
		"get":    runBatchGet,
		"cancel": runBatchCancel,
	})
}

func runBatchSubmit(a *app, args []string) error {
	fs := a.flags("batch submit", "batch submit -f batch.json|batch.toml|- [--dry-run] [--watch] [--idempotency-key KEY]")
	file := fs.String("f", "", "the batch: a .json or .toml file, - for JSON on stdin")
	fs.StringVar(file, "file", "", "the batch file")
	dryRun := fs.Bool("dry-run", false, "validate the file here and send nothing")
	watch := fs.Bool("watch", false, "watch the batch until it ends; exit with its status")
	key := fs.String("idempotency-key", "", "send this Idempotency-Key: a repeat creates nothing new")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	if *file == "" {
		return usagef("-f FILE is required")
	}
	req, err := readBatch(*file, a.env.Stdin)
	if err != nil {
		return err
	}
	if *dryRun {
		if a.out.json {
			return a.out.JSON(map[string]any{"valid": true, "operations": len(req.Operations), "tasks": taskCount(req)})
		}
		fmt.Fprintf(a.env.Stdout, "%s is valid: %d operations, %d tasks\n", *file, len(req.Operations), taskCount(req))
		return nil
	}
	created, err := a.client.ExecuteBatch(a.ctx, req, client.WithIdempotencyKey(*key))
	if err != nil {
		return err
	}
	if a.out.json {
		if err := a.out.JSON(created); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(a.env.Stdout, created.BatchID)
	}
	if *watch {
		return a.watch(created.BatchID, kindBatch)
	}
	return nil
}

func runBatchList(a *app, args []string) error {
	fs := a.flags("batch ls", "batch ls [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	batches, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.Batch], error) {
		return a.client.ListBatches(a.ctx, o)
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(batches))
	}
	rows := make([][]string, len(batches))
	for i, b := range batches {
		rows[i] = []string{b.BatchID, b.Name, b.Status, fmt.Sprint(len(b.Operations)), when(b.CreatedAt)}
	}
	a.out.table([]string{"ID", "NAME", "STATUS", "OPERATIONS", "CREATED"}, rows)
	return nil
}

func runBatchGet(a *app, args []string) error {
	fs := a.flags("batch get", "batch get BATCH_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	b, err := a.client.GetBatch(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(b)
	}
	kv := [][2]string{{"ID", b.BatchID}, {"Name", b.Name}, {"Status", b.Status}, {"Created", when(b.CreatedAt)}}
	if b.Error != "" {
		kv = append(kv, [2]string{"Error", b.Error})
	}
	a.out.fields(kv)
	fmt.Fprintln(a.env.Stdout)
	rows := make([][]string, len(b.Operations))
	for i, op := range b.Operations {
		rows[i] = []string{op.ID, orDash(op.Type), op.Status, pct(op.Progress), orDash(strings.Join(op.Tasks, ","))}
	}
	a.out.table([]string{"OPERATION", "TYPE", "STATUS", "PROGRESS", "TASKS"}, rows)
	return nil
}

func runBatchCancel(a *app, args []string) error {
	fs := a.flags("batch cancel", "batch cancel BATCH_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	msg, err := a.client.CancelBatch(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(map[string]string{"batch_id": pos[0], "message": msg})
	}
	fmt.Fprintln(a.env.Stdout, msg)
	return nil
}
