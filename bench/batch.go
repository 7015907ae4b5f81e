package bench

// The batch benchmark: a batch of thousands of operations from submission
// to its final status, through the real event store, views, coordinator
// and executors. Batch is called by cmd/provbench and by the Go benchmark
// beside it; it prints nothing itself.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/executors"
	"provisioning/projections"
	"provisioning/workflow"
)

// Options describe one run. Zero values take the defaults.
type Options struct {
	// Operations in the batch (default 10,000), ParallelLimit its limit
	// (default 100).
	Operations    int
	ParallelLimit int
	// Runner runs the tasks; nil runs CLI as real processes.
	Runner executors.Runner
	// CLI is the provisioning CLI, e.g. {"/path/provisioning", "simulate"}.
	CLI []string
	// Env is added to the CLI's environment (PROVISIONING_SIM_SPEED=0 …).
	Env []string
	// Sync is the embedded server's fsync policy: "always" or an interval
	// (default "1s").
	Sync string
	// Workers is how many tasks the executors run at once (default 8, as
	// `provisioning serve`).
	Workers int
	// Dir holds the server's files (default: a temporary directory,
	// removed afterwards).
	Dir string
	// Log receives the components' logs (default: discarded).
	Log *slog.Logger
}

// Result is what one run measured.
type Result struct {
	Operations int
	Tasks      int
	Status     string
	Elapsed    time.Duration
	// TasksPerSecond over Elapsed; WallPerTask is Elapsed/Tasks.
	TasksPerSecond float64
	WallPerTask    time.Duration
	// CPUPerTask is this process's CPU time (orchestrator and embedded
	// NATS server; not the CLI's processes) per task: the overhead.
	CPUPerTask time.Duration
	// Events appended to the event stream during the run, and per task.
	Events        uint64
	EventsPerTask float64
	// EventsByType counts the run's events by type.
	EventsByType map[events.Type]int
	// Median times of a task: from its creation to its start (queueing in
	// the executors), from its start to its end (running), and from its
	// last dependency's end to its creation (waiting for capacity, and
	// deciding).
	MedianQueue, MedianRun, MedianDecide time.Duration
	// PeakRSSMB is this process's peak resident memory during the run
	// (reset before it where the kernel allows).
	PeakRSSMB float64
	// RequestBytes is the size of the batch as a POST /batch/execute body.
	RequestBytes int
}

func (r Result) String() string {
	return fmt.Sprintf("%d operations, %d tasks: %s in %s; %.0f tasks/s, %s wall and %s CPU per task, %.2f events per task, peak RSS %.0f MB; median task: %s ready, %s queued, %s running",
		r.Operations, r.Tasks, r.Status, r.Elapsed.Round(time.Millisecond), r.TasksPerSecond,
		r.WallPerTask.Round(time.Microsecond), r.CPUPerTask.Round(time.Microsecond), r.EventsPerTask, r.PeakRSSMB,
		r.MedianDecide.Round(time.Microsecond), r.MedianQueue.Round(time.Microsecond), r.MedianRun.Round(time.Microsecond))
}

func (o Options) withDefaults() Options {
	if o.Operations <= 0 {
		o.Operations = 10000
	}
	if o.ParallelLimit <= 0 {
		o.ParallelLimit = 100
	}
	if o.Sync == "" {
		o.Sync = "1s"
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Batch runs one batch of opts.Operations operations from submission to
// its final status and reports what it cost.
func Batch(ctx context.Context, opts Options) (Result, error) {
	opts = opts.withDefaults()
	if opts.Runner == nil && len(opts.CLI) == 0 {
		return Result{}, errors.New("bench: neither a runner nor a CLI")
	}
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "provisioning-bench")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	req := Request(opts.Operations, opts.ParallelLimit)
	id := events.NewID()
	spec, err := req.Batch(id, workflow.Rules{})
	if err != nil {
		return Result{}, fmt.Errorf("bench batch: %w", err)
	}
	sys, err := start(ctx, dir, opts)
	if err != nil {
		return Result{}, err
	}
	defer sys.stop()
	return sys.run(ctx, spec, opts)
}

// system is everything one instance runs, minus the HTTP APIs.
type system struct {
	store   *eventstore.Store
	batches *projections.Batches
	view    *projections.Runner
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func()
}

func start(ctx context.Context, dir string, opts Options) (*system, error) {
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: filepath.Join(dir, "nats"), Sync: opts.Sync})
	if err != nil {
		return nil, err
	}
	s := &system{closers: []func(){func() { srv.Shutdown(); srv.WaitForShutdown() }}}
	nc, err := eventstore.DialInProcess(srv, "bench")
	if err != nil {
		s.stop()
		return nil, err
	}
	s.closers = append(s.closers, nc.Close)
	if s.store, err = eventstore.NewStore(nc); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.store.Setup(ctx, eventstore.SetupConfig{Replicas: 1}); err != nil {
		s.stop()
		return nil, err
	}
	snaps, err := projections.OpenSnapshots(ctx, s.store)
	if err != nil {
		s.stop()
		return nil, err
	}
	tasks := projections.NewTasks()
	s.batches = projections.NewBatches()
	s.view = projections.NewRunner(s.store, events.EventsStream, snaps, opts.Log, tasks, s.batches)
	coord := executors.NewCoordinator(s.store, s.batches, executors.CoordinatorConfig{CLI: strings.Join(opts.CLI, " "), TaskTimeout: time.Hour}, opts.Log, nil)
	s.view.OnApply(coord.Observe)
	env := append([]string{"PATH=" + os.Getenv("PATH"), "PROVISIONING_SIM_STATE=" + filepath.Join(dir, "simulator", "state.json")}, opts.Env...)
	pool := executors.NewPool(s.store, executors.Config{CLI: opts.CLI, Env: env, Workers: opts.Workers, ShutdownGrace: 5 * time.Second}, opts.Runner, opts.Log, nil)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, run := range []func() error{
		func() error { return s.view.Run(bg) },
		func() error { return coord.Run(bg, s.view.Ready()) },
		func() error { return pool.Run(bg) },
	} {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = run() }()
	}
	select {
	case <-s.view.Ready():
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	return s, nil
}

func (s *system) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func (s *system) run(ctx context.Context, spec events.BatchCreatedData, opts Options) (Result, error) {
	res := Result{Operations: len(spec.Operations)}
	for _, op := range spec.Operations {
		res.Tasks += workflow.TaskCount(op)
	}
	e, err := events.New(events.BatchCreated, spec.BatchID, spec)
	if err != nil {
		return res, err
	}
	first, err := s.store.LastSeq(ctx, events.EventsStream)
	if err != nil {
		return res, err
	}
	resetPeakRSS()
	cpu0 := processCPU()
	began := time.Now()
	if _, err := s.store.Append(ctx, e, eventstore.ExpectLast(0)); err != nil {
		return res, fmt.Errorf("submit: %w", err)
	}
	finished := func() bool { st, _, _ := s.batches.Status(spec.BatchID); return st != "" && st != events.StatusRunning }
	if err := s.view.WaitUntil(ctx, finished); err != nil {
		return res, fmt.Errorf("batch did not finish: %w", err)
	}
	res.Elapsed = time.Since(began)
	cpu := processCPU() - cpu0
	res.Status, _, _ = s.batches.Status(spec.BatchID)
	last, err := s.store.LastSeq(ctx, events.EventsStream)
	if err != nil {
		return res, err
	}
	res.Events = last - first
	if err := s.measure(ctx, first, &res); err != nil {
		return res, err
	}
	res.TasksPerSecond = float64(res.Tasks) / res.Elapsed.Seconds()
	res.WallPerTask = res.Elapsed / time.Duration(res.Tasks)
	res.CPUPerTask = cpu / time.Duration(res.Tasks)
	res.EventsPerTask = float64(res.Events) / float64(res.Tasks)
	res.PeakRSSMB = peakRSSMB()
	res.RequestBytes = requestBytes(opts)
	return res, nil
}

// NoopRunner is a Runner that does nothing and succeeds at once: with it
// a run measures the scheduler's own overhead. It exists for benchmarks.
type NoopRunner struct{}

// Run implements executors.Runner.
func (NoopRunner) Run(context.Context, executors.Job, func(executors.Progress)) executors.Result {
	return executors.Result{ExitCode: 0, Output: "ok"}
}

// Request is the benchmark's batch of n operations (n rounded down to a
// multiple of 10) under limit: lanes of groups, each group a server
// (one task) fanning out to eight taskserv operations (two tasks each,
// in order) joined by a cluster (one task); each group of a lane waits
// for the lane's previous group. 10,000 operations are 18,000 tasks.
func Request(n, limit int) workflow.BatchRequest {
	groups := max(n/10, 1)
	lanes := min(100, groups)
	req := workflow.BatchRequest{Name: "bench", ParallelLimit: &limit}
	for g := 0; g < groups; g++ {
		lane, depth := g%lanes, g/lanes
		root := fmt.Sprintf("r%d", g)
		rootOp := workflow.OperationRequest{ID: root, Type: events.OpServerBatch, ServerConfigs: []map[string]string{{"name": "s" + strconv.Itoa(g)}}}
		if depth > 0 {
			rootOp.Dependencies = []string{fmt.Sprintf("j%d", (depth-1)*lanes+lane)}
		}
		req.Operations = append(req.Operations, rootOp)
		join := workflow.OperationRequest{ID: fmt.Sprintf("j%d", g), Type: events.OpClusterBatch, Clusters: []string{"c" + strconv.Itoa(g)}}
		for f := 0; f < 8; f++ {
			id := fmt.Sprintf("f%d.%d", g, f)
			req.Operations = append(req.Operations, workflow.OperationRequest{ID: id, Type: events.OpTaskservBatch,
				Dependencies: []string{root}, Taskservs: []string{fmt.Sprintf("a%d.%d", g, f), fmt.Sprintf("b%d.%d", g, f)}})
			join.Dependencies = append(join.Dependencies, id)
		}
		req.Operations = append(req.Operations, join)
	}
	return req
}

func requestBytes(opts Options) int {
	var buf bytes.Buffer
	if err := jsonEncode(&buf, Request(opts.Operations, opts.ParallelLimit)); err != nil {
		return 0
	}
	return buf.Len()
}

// resetPeakRSS resets the kernel's peak resident memory of this process
// (VmHWM), so that a run reports its own peak.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMB is this process's peak resident memory (VmHWM) in MB, 0 if
// unknown.
func peakRSSMB() float64 {
	mb, err := statusMB(os.Getpid(), "VmHWM")
	if err != nil {
		return 0
	}
	return mb
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after ')'.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// measure reads the run's events back: counts by type and the median
// latencies of the tasks.
func (s *system) measure(ctx context.Context, first uint64, res *Result) error {
	res.EventsByType = map[events.Type]int{}
	type times struct {
		created, started, ended time.Time
		deps                    []string
	}
	tasks := map[string]*times{}
	err := s.store.Read(ctx, events.EventsStream, eventstore.Position{From: first + 1}, func(e events.Envelope, err error) error {
		if err != nil {
			return err
		}
		res.EventsByType[e.Type]++
		switch e.Type {
		case events.TaskCreated:
			var d events.TaskCreatedData
			if err := e.Decode(&d); err != nil {
				return err
			}
			tasks[e.AggregateID] = &times{created: e.Time, deps: d.Dependencies}
		case events.TaskStatusChanged:
			var d events.TaskStatusChangedData
			if err := e.Decode(&d); err != nil {
				return err
			}
			if t := tasks[e.AggregateID]; t != nil && d.Status == events.StatusRunning {
				t.started = e.Time
			} else if t != nil && events.Terminal(d.Status) {
				t.ended = e.Time
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var queue, run, decide []time.Duration
	for _, t := range tasks {
		queue = append(queue, t.started.Sub(t.created))
		run = append(run, t.ended.Sub(t.started))
		var ready time.Time
		for _, d := range t.deps {
			if dt := tasks[d]; dt != nil && dt.ended.After(ready) {
				ready = dt.ended
			}
		}
		if !ready.IsZero() {
			decide = append(decide, t.created.Sub(ready))
		}
	}
	res.MedianQueue, res.MedianRun, res.MedianDecide = Latencies(queue).Percentile(50), Latencies(run).Percentile(50), Latencies(decide).Percentile(50)
	return nil
}
