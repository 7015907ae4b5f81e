package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/projections"
	"provisioning/workflow"
)

// ReplayOptions sizes the replay benchmark.
type ReplayOptions struct {
	// Events written and then folded (default 1,000,000).
	Events int
	Log    *slog.Logger
}

// ReplayResult holds the rates of one replay run.
type ReplayResult struct {
	Events                       int
	WriteRate, RawRate, FoldRate float64 // events per second
	Tasks                        int
}

// Replay writes Events task events straight to an embedded JetStream
// with the store (tasks of five events each: created, running, two
// progress lines, completed), then, in the same run, reads the whole
// stream without decoding or folding it (the baseline: what JetStream
// delivers) and rebuilds every view of PROV_EVENTS from it as `provisioning
// replay` and a restart without snapshots do (projections.Fold).
func Replay(ctx context.Context, opts ReplayOptions) (ReplayResult, error) {
	if opts.Events <= 0 {
		opts.Events = 1_000_000
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	res := ReplayResult{Events: opts.Events}
	dir, err := os.MkdirTemp("", "provbench-replay-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir, Sync: "1m"})
	if err != nil {
		return res, err
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := eventstore.DialInProcess(srv, "provbench-replay")
	if err != nil {
		return res, err
	}
	defer nc.Close()
	store, err := eventstore.NewStore(nc)
	if err != nil {
		return res, err
	}
	if err := store.Setup(ctx, eventstore.SetupConfig{}); err != nil {
		return res, err
	}
	began := time.Now()
	if res.Tasks, err = writeTaskEvents(ctx, store, opts.Events); err != nil {
		return res, err
	}
	res.WriteRate = float64(opts.Events) / time.Since(began).Seconds()

	began = time.Now()
	n, err := readRaw(ctx, store)
	if err != nil {
		return res, err
	}
	if n != opts.Events {
		return res, fmt.Errorf("read %d events, wrote %d", n, opts.Events)
	}
	res.RawRate = float64(n) / time.Since(began).Seconds()

	tasks, batches, rollbacks, checkpoints := projections.EventViews()
	began = time.Now()
	failures, err := projections.Fold(ctx, store, projections.FoldRange{}, nil, tasks, batches, rollbacks, checkpoints)
	if err != nil {
		return res, err
	}
	res.FoldRate = float64(opts.Events) / time.Since(began).Seconds()
	if failures != 0 {
		return res, fmt.Errorf("%d events not applied", failures)
	}
	if _, total := tasks.List(projections.TaskFilter{}, 0, 1); total != res.Tasks {
		return res, fmt.Errorf("the view holds %d tasks, %d were written", total, res.Tasks)
	}
	return res, nil
}

// writeTaskEvents appends n events, five per task, pipelined in chunks
// (each chunk holds whole tasks, in order).
func writeTaskEvents(ctx context.Context, store *eventstore.Store, n int) (tasks int, err error) {
	const perTask, chunk = 5, 5000
	spec := events.TaskSpec{Workflow: workflow.Servers, Operation: workflow.OpCreate, Infra: "bench", Wait: true}
	buf := make([]events.Envelope, 0, chunk)
	flush := func() error {
		_, errs := store.AppendAll(ctx, buf)
		buf = buf[:0]
		return errors.Join(errs...)
	}
	for written := 0; written < n; {
		id := events.NewID()
		evs := taskEvents(id, spec)
		if rest := n - written; rest < len(evs) {
			evs = evs[:rest]
		}
		buf = append(buf, evs...)
		written += len(evs)
		tasks++
		if len(buf) >= chunk-perTask {
			if err := flush(); err != nil {
				return tasks, err
			}
		}
	}
	return tasks, flush()
}

func taskEvents(id string, spec events.TaskSpec) []events.Envelope {
	mk := func(t events.Type, data any) events.Envelope {
		e, _ := events.New(t, id, data)
		return e
	}
	return []events.Envelope{
		mk(events.TaskCreated, workflow.TaskCreated(id, spec, "/usr/local/bin/provisioning", 3600)),
		mk(events.TaskStatusChanged, events.TaskStatusChangedData{TaskID: id, Status: events.StatusRunning, Attempt: 1, Executor: "bench"}),
		mk(events.TaskProgress, events.TaskProgressData{TaskID: id, Attempt: 1, Progress: 30, Step: "Creating", TotalSteps: 3}),
		mk(events.TaskProgress, events.TaskProgressData{TaskID: id, Attempt: 1, Progress: 70, Step: "Booting", TotalSteps: 3}),
		mk(events.TaskStatusChanged, events.TaskStatusChangedData{TaskID: id, Status: events.StatusCompleted, Attempt: 1,
			Output: "Successfully created 1 server", Executor: "bench"}),
	}
}

// readRaw reads every message of PROV_EVENTS as JetStream delivers it,
// without decoding it.
func readRaw(ctx context.Context, store *eventstore.Store) (int, error) {
	last, err := store.LastSeq(ctx, events.EventsStream)
	if err != nil {
		return 0, err
	}
	cons, err := store.JetStream().OrderedConsumer(ctx, events.EventsStream.Name, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	n := 0
	for {
		msg, err := it.Next()
		if err != nil {
			return n, err
		}
		n++
		meta, err := msg.Metadata()
		if err != nil {
			return n, err
		}
		if meta.Sequence.Stream >= last {
			return n, nil
		}
	}
}

// ReplayRows are the replay figures of `make bench`.
func ReplayRows(r ReplayResult) []Row {
	name := fmt.Sprintf("views rebuilt from %d events", r.Events)
	return []Row{
		{Section: "replay", Setup: "1 node", Name: name, Unit: "events/s", Value: r.FoldRate,
			Baseline: r.RawRate, BaselineName: "reading the same stream without folding"},
		{Section: "replay", Setup: "1 node", Name: "writing them (pipelined appends, for scale)", Unit: "events/s", Value: r.WriteRate},
	}
}
