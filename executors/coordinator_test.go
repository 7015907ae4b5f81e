package executors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/executors"
	"provisioning/projections"
	"provisioning/workflow"
)

// fakeRunner runs jobs in-process: it records every start and end,
// checks that no batch (told apart by --infra) ever has more jobs
// running than its limit, and fails the jobs whose argv names a resource
// starting with "fail".
type fakeRunner struct {
	mu       sync.Mutex
	running  map[string]int // batch -> jobs running
	starts   map[string]int // task -> runs started
	order    []string       // "start <task>" / "end <task>"
	limits   map[string]int // by infra
	overrun  string
	duration time.Duration
}

func newFakeRunner(d time.Duration) *fakeRunner {
	return &fakeRunner{running: map[string]int{}, starts: map[string]int{}, limits: map[string]int{}, duration: d}
}

func (f *fakeRunner) Run(ctx context.Context, job executors.Job, progress func(executors.Progress)) executors.Result {
	var b string
	for i, a := range job.Argv {
		if a == "--infra" && i+1 < len(job.Argv) {
			b = job.Argv[i+1]
		}
	}
	f.mu.Lock()
	f.starts[job.TaskID]++
	f.running[b]++
	if lim := f.limits[b]; lim > 0 && f.running[b] > lim && f.overrun == "" {
		f.overrun = fmt.Sprintf("batch %s runs %d jobs, limit %d", b, f.running[b], lim)
	}
	f.order = append(f.order, "start "+job.TaskID)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running[b]--
		f.order = append(f.order, "end "+job.TaskID)
		f.mu.Unlock()
	}()
	progress(executors.Progress{Percent: 50, Step: "working"})
	t := time.NewTimer(f.duration)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return executors.Result{ExitCode: -1, Err: ctx.Err()}
	}
	for _, a := range job.Argv {
		if strings.HasPrefix(a, "fail") {
			return executors.Result{ExitCode: 1, Stderr: "simulated failure of " + a, Err: fmt.Errorf("exit 1")}
		}
	}
	return executors.Result{ExitCode: 0, Output: "done"}
}

// rig is one instance's worth of batch machinery on an embedded NATS:
// views, a coordinator, and a pool running the fake runner.
type rig struct {
	store   *eventstore.Store
	tasks   *projections.Tasks
	batches *projections.Batches
	view    *projections.Runner
	coord   *executors.Coordinator
}

func startRig(t *testing.T, ctx context.Context, store *eventstore.Store, runner executors.Runner, workers int) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{store: store, tasks: projections.NewTasks(), batches: projections.NewBatches()}
	r.view = projections.NewRunner(store, events.EventsStream, nil, log, r.tasks, r.batches)
	r.coord = executors.NewCoordinator(store, r.batches, executors.CoordinatorConfig{CLI: "provisioning", TaskTimeout: time.Minute, Resync: 100 * time.Millisecond, CreateGrace: 200 * time.Millisecond}, log, nil)
	r.view.OnApply(r.coord.Observe)
	pool := executors.NewPool(store, executors.Config{Workers: workers, AckWait: 5 * time.Second, ShutdownGrace: time.Second}, runner, log, nil)
	var wg sync.WaitGroup
	for _, run := range []func() error{
		func() error { return r.view.Run(ctx) },
		func() error { return r.coord.Run(ctx, r.view.Ready()) },
		func() error { return pool.Run(ctx) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run() }()
	}
	t.Cleanup(wg.Wait)
	return r
}

func submit(t *testing.T, store *eventstore.Store, spec events.BatchCreatedData) {
	t.Helper()
	e, err := events.New(events.BatchCreated, spec.BatchID, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), e, eventstore.ExpectLast(0)); err != nil {
		t.Fatal(err)
	}
}

// randomBatch builds a DAG of chains and fans with random types.
func randomBatch(seed uint64, ops, limit int, failing bool) events.BatchCreatedData {
	rng := rand.New(rand.NewPCG(seed, 7))
	infra := fmt.Sprintf("rnd%d", seed)
	spec := events.BatchCreatedData{BatchID: events.NewID(), Name: infra, Infra: infra, StorageBackend: "jetstream",
		ParallelLimit: limit, RollbackEnabled: rng.IntN(2) == 0}
	for i := 0; i < ops; i++ {
		op := events.BatchOperation{ID: fmt.Sprintf("op%d", i), Infra: infra, Dependencies: []string{}}
		n := 1 + rng.IntN(3)
		name := func(k int) string {
			if failing && i == ops*2/3 && k == 0 {
				return fmt.Sprintf("fail%d-%d", i, k)
			}
			return fmt.Sprintf("r%d-%d", i, k)
		}
		switch rng.IntN(3) {
		case 0:
			op.Type = events.OpServerBatch
			for k := 0; k < n; k++ {
				op.ServerConfigs = append(op.ServerConfigs, map[string]string{"name": name(k)})
			}
		case 1:
			op.Type = events.OpTaskservBatch
			for k := 0; k < n; k++ {
				op.Taskservs = append(op.Taskservs, name(k))
			}
		default:
			op.Type = events.OpClusterBatch
			for k := 0; k < n; k++ {
				op.Clusters = append(op.Clusters, name(k))
			}
		}
		for j := max(0, i-4); j < i; j++ {
			if rng.IntN(3) == 0 {
				op.Dependencies = append(op.Dependencies, fmt.Sprintf("op%d", j))
			}
		}
		spec.Operations = append(spec.Operations, op)
	}
	return spec
}

func waitFinished(t *testing.T, r *rig, id string, within time.Duration) projections.BatchView {
	t.Helper()
	var b projections.BatchView
	eventstest.Eventually(t, within, func() bool {
		var ok bool
		b, ok = r.batches.Get(id, r.tasks)
		return ok && b.Status != events.StatusRunning
	}, "batch %s did not finish: %+v", id, &b)
	return b
}

// TestCoordinatorRunsRandomBatches runs a few random batches through the
// real coordinator, executors and event store with an in-process runner:
// each ends as its failures say, every task runs once, never more than
// the limit at once, and no task starts before what it waits for ended.
func TestCoordinatorRunsRandomBatches(t *testing.T) {
	env := eventstest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := newFakeRunner(2 * time.Millisecond)
	r := startRig(t, ctx, env.Store, fake, 6)
	for seed := uint64(1); seed <= 6; seed++ {
		failing := seed%3 == 0
		spec := randomBatch(seed, 12, 1+int(seed)%4, failing)
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			fake.mu.Lock()
			fake.limits[spec.Infra] = spec.ParallelLimit
			fake.mu.Unlock()
			submit(t, env.Store, spec)
			b := waitFinished(t, r, spec.BatchID, 30*time.Second)
			want := events.StatusCompleted
			if failing {
				want = map[bool]string{true: events.StatusRolledBack, false: events.StatusFailed}[spec.RollbackEnabled]
			}
			if b.Status != want {
				t.Fatalf("batch ended %s, want %s (error %v)", b.Status, want, b.Error)
			}
			checkRuns(t, r, fake, spec)
			if b.Status == events.StatusRolledBack {
				checkRolledBack(t, r, b)
			}
		})
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.overrun != "" {
		t.Fatal(fake.overrun)
	}
}

func checkRuns(t *testing.T, r *rig, f *fakeRunner, spec events.BatchCreatedData) {
	t.Helper()
	tasks, _ := r.tasks.List(projections.TaskFilter{BatchID: spec.BatchID}, 0, 1000)
	byID := map[string]workflow.Task{}
	for _, task := range tasks {
		byID[task.ID] = task
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, task := range tasks {
		if n := f.starts[task.ID]; task.StartedAt != nil && n != 1 {
			t.Errorf("task %s (%s) ran %d times", task.ID, task.Name, n)
		}
		for _, dep := range task.Dependencies {
			d := byID[dep]
			if task.StartedAt != nil && (d.Status != events.StatusCompleted && task.Compensates == "" || d.CompletedAt == nil || task.StartedAt.Before(*d.CompletedAt)) {
				t.Errorf("task %s started at %v before its dependency %s (%s) ended at %v", task.Name, task.StartedAt, d.Name, d.Status, d.CompletedAt)
			}
		}
	}
}

// checkRolledBack: every completed task has one completed compensation,
// and every operation that had completed work is RolledBack.
func checkRolledBack(t *testing.T, r *rig, b projections.BatchView) {
	t.Helper()
	tasks, _ := r.tasks.List(projections.TaskFilter{BatchID: b.BatchID}, 0, 1000)
	undone := map[string]int{}
	for _, task := range tasks {
		if task.Compensates != "" && task.Status == events.StatusCompleted {
			undone[task.Compensates]++
		}
	}
	for _, task := range tasks {
		if task.Compensates == "" && task.Status == events.StatusCompleted && undone[task.ID] != 1 {
			t.Errorf("completed task %s compensated %d times", task.Name, undone[task.ID])
		}
	}
	for _, op := range b.Operations {
		completed := 0
		for _, res := range op.Results.Tasks {
			if res.Status == events.StatusCompleted {
				completed++
			}
		}
		if completed > 0 && op.Status != events.StatusRolledBack && op.Status != events.StatusFailed {
			t.Errorf("operation %s had completed work and ended %s", op.ID, op.Status)
		}
	}
}

// TestCoordinatorCancelsABatch: once the batch is Cancelled nothing of it
// runs, nothing starts afterwards, and what had not started is Skipped.
func TestCoordinatorCancelsABatch(t *testing.T) {
	env := eventstest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := newFakeRunner(time.Minute)
	r := startRig(t, ctx, env.Store, fake, 4)
	spec := randomBatch(42, 10, 3, false)
	submit(t, env.Store, spec)
	eventstest.Eventually(t, 10*time.Second, func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.running[spec.Infra] > 0
	}, "no task started")
	e, _ := events.New(events.BatchCancelRequested, spec.BatchID, events.BatchCancelRequestedData{BatchID: spec.BatchID})
	if _, err := env.Store.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	b := waitFinished(t, r, spec.BatchID, 20*time.Second)
	fake.mu.Lock()
	running, startsAtEnd := fake.running[spec.Infra], len(fake.order)
	fake.mu.Unlock()
	if b.Status != events.StatusCancelled || running != 0 {
		t.Fatalf("batch %s with %d jobs still running", b.Status, running)
	}
	skipped := 0
	for _, op := range b.Operations {
		switch op.Status {
		case events.StatusSkipped:
			skipped++
		case events.StatusCancelled, events.StatusCompleted:
		default:
			t.Errorf("operation %s ended %s", op.ID, op.Status)
		}
	}
	if skipped == 0 {
		t.Errorf("no operation skipped: %+v", b.Operations)
	}
	// Wait until whatever could still start a job has had its turn: the
	// view has every event, the coordinator owes no decision, and no job
	// is queued or held. Nothing may have started meanwhile.
	eventstest.Eventually(t, 10*time.Second, func() bool {
		if r.view.WaitForLatest(ctx) != nil || r.coord.Awaiting() != 0 {
			return false
		}
		jobs, err := env.Store.JetStream().Consumer(ctx, events.EventsStream.Name, executors.ConsumerName)
		if err != nil {
			return false
		}
		info, err := jobs.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && r.coord.Awaiting() == 0
	}, "coordinator and executors idle")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.order) != startsAtEnd {
		t.Fatalf("jobs started or ended after the batch was cancelled: %v", fake.order[startsAtEnd:])
	}
}

// TestCoordinatorCreatesWhatACrashLeftScheduled: a coordinator stored a
// decision and died before creating its tasks. A coordinator started
// later creates them (once, with the ids decided) and the batch goes on.
func TestCoordinatorCreatesWhatACrashLeftScheduled(t *testing.T) {
	env := eventstest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec := randomBatch(9, 4, 2, false)
	submit(t, env.Store, spec)
	b := workflow.NewBatch(events.Envelope{Seq: 1}, spec)
	d := b.Next()
	evs, plans, err := d.Events(spec.BatchID, events.NewID)
	if err != nil || len(plans) == 0 || evs[0].Type != events.BatchTasksScheduled {
		t.Fatalf("first decision: %v %+v", err, d)
	}
	last, err := env.Store.Last(ctx, events.AggBatch, spec.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.Append(ctx, evs[0], eventstore.ExpectLast(last.Seq)); err != nil {
		t.Fatal(err)
	}
	fake := newFakeRunner(time.Millisecond)
	r := startRig(t, ctx, env.Store, fake, 4)
	if got := waitFinished(t, r, spec.BatchID, 20*time.Second); got.Status != events.StatusCompleted {
		t.Fatalf("batch ended %s", got.Status)
	}
	for _, p := range plans {
		task, ok := r.tasks.Get(p.ID)
		if !ok || task.Status != events.StatusCompleted {
			t.Fatalf("scheduled task %s: %+v", p.ID, task)
		}
	}
	checkRuns(t, r, fake, spec)
}
