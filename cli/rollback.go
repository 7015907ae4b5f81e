package cli

import (
	"fmt"
	"strings"

	"provisioning/client"
)

func runCheckpoint(a *app, args []string) error {
	return a.subcommand("checkpoint", args, map[string]func(*app, []string) error{
		"create": runCheckpointCreate,
		"ls":     runCheckpointList,
		"list":   runCheckpointList,
		"get":    runCheckpointGet,
	})
}

func runCheckpointCreate(a *app, args []string) error {
	fs := a.flags("checkpoint create", "checkpoint create NAME [--description TEXT]")
	desc := fs.String("description", "", "what the checkpoint is before")
	key := fs.String("idempotency-key", "", "send this Idempotency-Key")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := a.client.CreateCheckpoint(a.ctx, client.CheckpointRequest{Name: pos[0], Description: *desc}, client.WithIdempotencyKey(*key))
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(map[string]string{"checkpoint_id": id})
	}
	fmt.Fprintln(a.env.Stdout, id)
	return nil
}

func runCheckpointList(a *app, args []string) error {
	fs := a.flags("checkpoint ls", "checkpoint ls [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	cps, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.Checkpoint], error) {
		return a.client.ListCheckpoints(a.ctx, o)
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(cps))
	}
	rows := make([][]string, len(cps))
	for i, c := range cps {
		rows[i] = []string{c.ID, c.Name, when(c.CreatedAt), orDash(c.Size), orDash(c.Description)}
	}
	a.out.table([]string{"ID", "NAME", "CREATED", "SIZE", "DESCRIPTION"}, rows)
	return nil
}

func runCheckpointGet(a *app, args []string) error {
	fs := a.flags("checkpoint get", "checkpoint get CHECKPOINT_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	c, err := a.client.GetCheckpoint(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(c)
	}
	a.out.fields([][2]string{{"ID", c.ID}, {"Name", c.Name}, {"Description", orDash(c.Description)},
		{"Created", when(c.CreatedAt)}, {"Size", orDash(c.Size)}, {"Operations", fmt.Sprint(c.OperationsCount)}})
	return nil
}

// runRollback is `rollback --checkpoint ID | --operations A,B` and the
// subcommands restore and stats.
func runRollback(a *app, args []string) error {
	if len(args) > 0 && (args[0] == "restore" || args[0] == "stats") {
		return a.subcommand("rollback", args, map[string]func(*app, []string) error{
			"restore": runRollbackRestore,
			"stats":   runRollbackStats,
		})
	}
	fs := a.flags("rollback", "rollback --checkpoint ID | --operations ID,ID,... [--idempotency-key KEY]")
	checkpoint := fs.String("checkpoint", "", "compensate everything completed after this checkpoint")
	ops := fs.String("operations", "", "compensate these operations (comma-separated ids)")
	key := fs.String("idempotency-key", "", "send this Idempotency-Key")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	req := client.RollbackRequest{CheckpointID: *checkpoint}
	for _, id := range strings.Split(*ops, ",") {
		if id = strings.TrimSpace(id); id != "" {
			req.OperationIDs = append(req.OperationIDs, id)
		}
	}
	if (req.CheckpointID == "") == (len(req.OperationIDs) == 0) {
		return usagef("give exactly one of --checkpoint ID and --operations ID,ID,...")
	}
	r, err := a.client.ExecuteRollback(a.ctx, req, client.WithIdempotencyKey(*key))
	if err != nil {
		return err
	}
	if a.out.json {
		if err := a.out.JSON(r); err != nil {
			return err
		}
	} else {
		result := "Completed"
		switch {
		case r.Status == "Running":
			result = "Running (still compensating: provisioning state progress " + r.RollbackID + ")"
		case !r.Success:
			result = "Failed"
		}
		a.out.fields([][2]string{{"Rollback", r.RollbackID}, {"Status", result},
			{"Executed", fmt.Sprint(r.OperationsExecuted)}, {"Failed", fmt.Sprint(r.OperationsFailed)},
			{"Duration", fmt.Sprintf("%.1fs", r.Duration)}})
	}
	if !r.Success && r.Status != "Running" {
		return exitCode(ExitFailed)
	}
	return nil
}

func runRollbackRestore(a *app, args []string) error {
	fs := a.flags("rollback restore", "rollback restore CHECKPOINT_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	msg, err := a.client.RestoreCheckpoint(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(map[string]string{"checkpoint_id": pos[0], "message": msg})
	}
	fmt.Fprintln(a.env.Stdout, msg)
	return nil
}

func runRollbackStats(a *app, args []string) error {
	fs := a.flags("rollback stats", "rollback stats")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	s, err := a.client.RollbackStatistics(a.ctx)
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(s)
	}
	a.out.fields([][2]string{{"Checkpoints", fmt.Sprint(s.TotalCheckpoints)}, {"Rollbacks", fmt.Sprint(s.TotalRollbacks)},
		{"Success rate", fmt.Sprintf("%.1f%%", s.SuccessRate)}, {"Average time", fmt.Sprintf("%.1fs", s.AverageRollbackTime)}})
	return nil
}

func runState(a *app, args []string) error {
	return a.subcommand("state", args, map[string]func(*app, []string) error{
		"progress":  runStateProgress,
		"snapshots": runStateSnapshots,
		"metrics":   runStateMetrics,
		"health":    runStateHealth,
		"stats":     runStateStats,
	})
}

func runStateProgress(a *app, args []string) error {
	fs := a.flags("state progress", "state progress TASK_OR_BATCH_ID")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	p, err := a.client.WorkflowProgress(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(p)
	}
	eta := "-"
	if p.EstimatedTimeRemaining != nil {
		eta = fmt.Sprintf("%.0fs", *p.EstimatedTimeRemaining)
	}
	a.out.fields([][2]string{{"Workflow", p.WorkflowID}, {"Progress", pct(p.Progress)}, {"Step", str(p.CurrentStep)},
		{"Steps", fmt.Sprintf("%d/%d", p.CompletedSteps, p.TotalSteps)}, {"Remaining", eta}})
	return nil
}

func runStateSnapshots(a *app, args []string) error {
	fs := a.flags("state snapshots", "state snapshots TASK_OR_BATCH_ID [--limit N] [--offset N] [--all]")
	var p pageFlags
	p.register(fs)
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	snaps, err := collect(a, p, func(o client.ListOptions) (*client.Page[client.Snapshot], error) {
		return a.client.WorkflowSnapshots(a.ctx, pos[0], o)
	})
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(nonNil(snaps))
	}
	rows := make([][]string, len(snaps))
	for i, s := range snaps {
		rows[i] = []string{s.SnapshotID, when(s.Timestamp), s.State, string(s.Details)}
	}
	a.out.table([]string{"SNAPSHOT", "TIME", "STATUS", "DETAILS"}, rows)
	return nil
}

func runStateMetrics(a *app, args []string) error {
	fs := a.flags("state metrics", "state metrics")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	m, err := a.client.SystemMetrics(a.ctx)
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(m)
	}
	a.out.fields([][2]string{{"Workflows", fmt.Sprint(m.TotalWorkflows)}, {"Active", fmt.Sprint(m.ActiveWorkflows)},
		{"Completed", fmt.Sprint(m.CompletedWorkflows)}, {"Failed", fmt.Sprint(m.FailedWorkflows)},
		{"CPU", fmt.Sprintf("%.1f%%", m.SystemLoad.CPUUsage)}, {"Memory", fmt.Sprintf("%.0f MB", m.SystemLoad.MemoryUsage)},
		{"Disk", fmt.Sprintf("%.1f%%", m.SystemLoad.DiskUsage)}})
	return nil
}

func runStateHealth(a *app, args []string) error {
	fs := a.flags("state health", "state health")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	h, err := a.client.SystemHealth(a.ctx)
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(h)
	}
	rows := [][]string{{"overall", h.OverallStatus}}
	for _, k := range sortedKeys(h.Components) {
		rows = append(rows, []string{k, h.Components[k]})
	}
	a.out.table([]string{"COMPONENT", "STATUS"}, rows)
	if !strings.EqualFold(h.OverallStatus, "healthy") {
		return exitCode(ExitUnavailable)
	}
	return nil
}

func runStateStats(a *app, args []string) error {
	fs := a.flags("state stats", "state stats")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	s, err := a.client.StateStatistics(a.ctx)
	if err != nil {
		return err
	}
	if a.out.json {
		return a.out.JSON(s)
	}
	a.out.fields([][2]string{{"Workflows", fmt.Sprint(s.TotalWorkflows)}, {"Snapshots", fmt.Sprint(s.ActiveSnapshots)},
		{"Storage", s.StorageUsage}, {"Average duration", fmt.Sprintf("%.0fs", s.AverageWorkflowDuration)}})
	return nil
}
