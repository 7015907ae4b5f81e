package projections_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/projections"
	"provisioning/workflow"
)

// stream appends events one by one and remembers the last sequence.
type stream struct {
	t     *testing.T
	store *eventstore.Store
	last  uint64
}

func (s *stream) add(typ events.Type, id string, data any) uint64 {
	s.t.Helper()
	e, err := events.New(typ, id, data)
	if err != nil {
		s.t.Fatal(err)
	}
	stored, err := s.store.Append(context.Background(), e)
	if err != nil {
		s.t.Fatal(err)
	}
	s.last = stored.Seq
	return stored.Seq
}

func (s *stream) task(id, batch string, index int) {
	spec := events.TaskSpec{Workflow: workflow.Servers, Operation: workflow.OpCreate, Infra: "p", Server: map[string]string{"name": id}}
	d := workflow.TaskCreated(id, spec, "prov", 60)
	d.BatchID = batch
	if batch != "" {
		d.OperationID = "srv"
		s.add(events.BatchTasksScheduled, batch, events.BatchTasksScheduledData{BatchID: batch, Tasks: []events.ScheduledTask{{TaskID: id, OperationID: "srv", Index: index}}})
	}
	s.add(events.TaskCreated, id, d)
}

func (s *stream) status(id, batch, status string) {
	s.add(events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: status, Attempt: 1, BatchID: batch})
}

func views() (*projections.Tasks, *projections.Batches, []projections.Projection) {
	tasks, batches, rollbacks, checkpoints := projections.EventViews()
	return tasks, batches, []projections.Projection{tasks, batches, rollbacks, checkpoints}
}

// TestRestoreRules checks what a restore leaves in the views: finished
// work as it was at the checkpoint, work that was running then as it is
// now (a batch with the tasks it created since), nothing created since
// unless it still runs; and that a runner restarted from snapshots on
// either side of the restore, and a fold from scratch, agree.
func TestRestoreRules(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	s := &stream{t: t, store: env.Store}
	s.task("A", "", 0)
	s.status("A", "", events.StatusRunning)
	s.status("A", "", events.StatusCompleted)
	s.task("B", "", 0)
	s.status("B", "", events.StatusRunning)
	s.add(events.BatchCreated, "X", events.BatchCreatedData{BatchID: "X", Name: "x", ParallelLimit: 1, Infra: "p",
		Operations: []events.BatchOperation{{ID: "srv", Type: events.OpServerBatch, Infra: "p", ServerConfigs: []map[string]string{{"name": "X1"}, {"name": "X2"}}}}})
	s.task("X1", "X", 0)
	s.status("X1", "X", events.StatusRunning)
	checkpoint := s.last

	s.status("B", "", events.StatusCompleted)
	s.status("X1", "X", events.StatusCompleted)
	s.task("X2", "X", 1)
	s.status("X2", "X", events.StatusRunning)
	s.status("X2", "X", events.StatusCompleted)
	s.add(events.BatchStatusChanged, "X", events.BatchStatusChangedData{BatchID: "X", Status: events.StatusCompleted, Progress: 100})
	s.task("C", "", 0)
	s.status("C", "", events.StatusRunning)
	s.status("C", "", events.StatusCompleted)
	s.task("D", "", 0)
	s.status("D", "", events.StatusRunning)

	// A runner stops here: its snapshots are from before the restore.
	ctx := context.Background()
	tl := &projections.Timeline{Store: env.Store}
	snaps, err := projections.OpenSnapshots(ctx, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, env.Store, snaps, tl, s.last)

	s.add(events.CheckpointCreated, "K", events.CheckpointCreatedData{CheckpointID: "K", Name: "k", Seq: checkpoint})
	s.add(events.StateRestored, "K", events.StateRestoredData{CheckpointID: "K", Seq: checkpoint})
	s.status("D", "", events.StatusCompleted)

	tasks, batches, all := views()
	if failures, err := projections.Fold(ctx, env.Store, projections.FoldRange{}, tl, all...); err != nil || failures != 0 {
		t.Fatalf("fold: %v, %d not applied", err, failures)
	}
	want := map[string]string{"A": "Completed", "B": "Completed", "X1": "Completed", "X2": "Completed", "D": "Completed"}
	list, total := tasks.List(projections.TaskFilter{}, 0, 100)
	if total != len(want) {
		t.Fatalf("%d tasks after the restore, want %v: %v", total, want, list)
	}
	for _, task := range list {
		if want[task.ID] != task.Status {
			t.Fatalf("task %s is %s, want %s", task.ID, task.Status, want[task.ID])
		}
	}
	if _, ok := tasks.Get("C"); ok {
		t.Fatal("task C, created and finished after the checkpoint, is still in the view")
	}
	if st, _, ok := batches.Status("X"); !ok || st != events.StatusCompleted {
		t.Fatalf("batch X, running at the checkpoint, is %q", st)
	}
	if got := tasks.Counts(); got[events.StatusCompleted] != 5 || len(got) != 1 {
		t.Fatalf("counts %v", got)
	}

	// Runners restarted from the snapshots of before the restore, then
	// from those of after it, end where the fold from scratch does.
	for range 2 {
		rt, rb := runUntil(t, env.Store, snaps, tl, s.last)
		for _, pair := range [][2]projections.Canonicalizer{{tasks, rt}, {batches, rb}} {
			a, err := pair[0].Canonical()
			if err != nil {
				t.Fatalf("%s fold: %v", pair[0].Name(), err)
			}
			b, err := pair[1].Canonical()
			if err != nil {
				t.Fatalf("%s runner: %v", pair[1].Name(), err)
			}
			for id := range a {
				if string(a[id]) != string(b[id]) {
					t.Fatalf("%s %s: runner\n%s\nfold\n%s", pair[0].Name(), id, b[id], a[id])
				}
			}
			if len(a) != len(b) {
				t.Fatalf("%s: %d items in the fold, %d in the runner", pair[0].Name(), len(a), len(b))
			}
		}
	}
}

// runUntil runs a runner over fresh views until it has applied seq, stops
// it (it writes its snapshots) and returns its views.
func runUntil(t *testing.T, store *eventstore.Store, snaps *projections.Snapshots, tl projections.StateSource, seq uint64) (*projections.Tasks, *projections.Batches) {
	t.Helper()
	rt, rb, rall := views()
	r := projections.NewRunner(store, events.EventsStream, snaps, slog.New(slog.NewTextHandler(io.Discard, nil)), rall...)
	r.Timeline = tl
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := r.WaitFor(wctx, seq); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil || r.Failures() != 0 {
		t.Fatalf("runner: %v, %d failures", err, r.Failures())
	}
	return rt, rb
}
