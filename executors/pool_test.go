package executors_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/executors"
	"provisioning/workflow"
)

// gate is a runner whose runs block until released.
type gate struct {
	mu      sync.Mutex
	started chan string
	release chan executors.Result
}

func newGate() *gate {
	return &gate{started: make(chan string, 16), release: make(chan executors.Result, 16)}
}

func (g *gate) Run(ctx context.Context, job executors.Job, progress func(executors.Progress)) executors.Result {
	g.started <- job.TaskID
	progress(executors.Progress{Percent: 10, Step: "working"})
	select {
	case res := <-g.release:
		return res
	case <-ctx.Done():
		return executors.Result{ExitCode: -1, Err: ctx.Err()}
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func createTask(t *testing.T, env *eventstest.Env, timeout int) string {
	t.Helper()
	id := events.NewID()
	data := workflow.TaskCreated(id, events.TaskSpec{Workflow: "servers", Operation: "create", Infra: "x"}, "cli", timeout)
	e, err := events.New(events.TaskCreated, id, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.Append(context.Background(), e, eventstore.ExpectLast(0)); err != nil {
		t.Fatal(err)
	}
	return id
}

func head(t *testing.T, env *eventstest.Env, id string) (workflow.Head, events.Envelope) {
	t.Helper()
	last, err := env.Store.Last(context.Background(), events.AggTask, id)
	if err != nil {
		t.Fatal(err)
	}
	h, err := workflow.HeadOf(last)
	if err != nil {
		t.Fatal(err)
	}
	return h, last
}

func runPool(t *testing.T, env *eventstest.Env, cfg executors.Config, r executors.Runner) *executors.Pool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	pool := executors.NewPool(env.Store, cfg, r, discard(), nil)
	go func() { done <- pool.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return pool
}

// A worker whose job went to a newer attempt must not record anything.
func TestStaleAttemptCannotRecordItsResult(t *testing.T) {
	env := eventstest.Start(t)
	g := newGate()
	pool := runPool(t, env, executors.Config{Workers: 1, ShutdownGrace: 100 * time.Millisecond, ProgressInterval: time.Nanosecond}, g)
	id := createTask(t, env, 60)
	<-g.started
	eventstest.Eventually(t, 5*time.Second, func() bool {
		h, _ := head(t, env, id)
		return h.Attempt == 1 && h.Status == events.StatusRunning
	}, "attempt 1 never ran")
	// Another executor takes the job over (as after a redelivery); the
	// running attempt may append progress meanwhile, so retry on conflict.
	var stored events.Envelope
	for tries := 0; ; tries++ {
		h, _ := head(t, env, id)
		takeover, _ := events.New(events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: events.StatusRunning, Attempt: 2, Executor: "other"})
		var err error
		stored, err = env.Store.Append(context.Background(), takeover, eventstore.ExpectLast(h.Seq))
		if err == nil {
			break
		}
		if !errors.Is(err, eventstore.ErrConflict) || tries > 10 {
			t.Fatal(err)
		}
	}
	g.release <- executors.Result{ExitCode: 0, Output: "stale result"}
	eventstest.Eventually(t, 5*time.Second, func() bool { return pool.Running() == 0 }, "the stale worker never finished")
	if h, last := head(t, env, id); h.Seq != stored.Seq {
		t.Fatalf("stale attempt appended %s after the takeover", last.Type)
	}
}

// A job whose executors keep dying is failed after MaxAttempts deliveries.
func TestPoisonJobIsFailedAfterMaxAttempts(t *testing.T) {
	env := eventstest.Start(t)
	cfg := executors.Config{Workers: 1, MaxAttempts: 1, AckWait: 500 * time.Millisecond, ShutdownGrace: 100 * time.Millisecond}
	ctx := context.Background()
	cons, err := env.Store.JetStream().CreateOrUpdateConsumer(ctx, events.EventsStream.Name, cfg.ConsumerConfig())
	if err != nil {
		t.Fatal(err)
	}
	id := createTask(t, env, 60)
	// A "dead executor" takes the job and never answers.
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	if n != 1 {
		t.Fatalf("dead executor got %d jobs", n)
	}
	runPool(t, env, cfg, newGate())
	eventstest.Eventually(t, 10*time.Second, func() bool {
		h, _ := head(t, env, id)
		return h.Status == events.StatusFailed
	}, "the poison job was not failed")
	_, last := head(t, env, id)
	var d events.TaskStatusChangedData
	if err := last.Decode(&d); err != nil || !strings.Contains(d.Error, "gave up after 1 deliveries") {
		t.Fatalf("final event %+v (%v)", d, err)
	}
}

func TestTimeoutKillsAndFails(t *testing.T) {
	env := eventstest.Start(t)
	cli := []string{"sh", "-c", "sleep 30", "sh"}
	runPool(t, env, executors.Config{Workers: 1, CLI: cli, KillGrace: 100 * time.Millisecond, ShutdownGrace: 100 * time.Millisecond}, nil)
	id := createTask(t, env, 1)
	eventstest.Eventually(t, 15*time.Second, func() bool {
		h, _ := head(t, env, id)
		return h.Status == events.StatusFailed
	}, "the task did not time out")
	_, last := head(t, env, id)
	var d events.TaskStatusChangedData
	if err := last.Decode(&d); err != nil || !strings.Contains(d.Error, "timed out after 1s") {
		t.Fatalf("final event %+v (%v)", d, err)
	}
}

func TestCancelledBeforeStartIsNotRun(t *testing.T) {
	env := eventstest.Start(t)
	id := createTask(t, env, 60)
	h, _ := head(t, env, id)
	e, err := workflow.CancelEvent(id, h, "test")
	if err != nil || e == nil {
		t.Fatalf("cancel event: %v", err)
	}
	if _, err := env.Store.Append(context.Background(), *e, eventstore.ExpectLast(h.Seq)); err != nil {
		t.Fatal(err)
	}
	g := newGate()
	runPool(t, env, executors.Config{Workers: 1, ShutdownGrace: 100 * time.Millisecond}, g)
	other := createTask(t, env, 60)
	if got := <-g.started; got != other {
		t.Fatalf("ran %s, want only the uncancelled %s", got, other)
	}
	if h, _ := head(t, env, id); h.Status != events.StatusCancelled {
		t.Fatalf("cancelled task is %s", h.Status)
	}
	g.release <- executors.Result{}
}

// A TaskCreated the API did not write (forged by whoever could publish to
// the stream, or corrupted) is checked with the API's rules before
// anything runs: its task fails, naming why, and the CLI never starts.
func TestForgedJobIsRefusedWithoutRunning(t *testing.T) {
	env := eventstest.Start(t)
	g := newGate()
	runPool(t, env, executors.Config{Workers: 1, ShutdownGrace: 100 * time.Millisecond}, g)
	forged := map[string]func(*events.TaskCreatedData){
		"args not the spec's": func(d *events.TaskCreatedData) { d.Args = append(d.Args, "--settings", "/etc/shadow") },
		"absolute settings": func(d *events.TaskCreatedData) {
			d.Spec.Settings = "/etc/shadow"
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		},
		"a flag for infra": func(d *events.TaskCreatedData) {
			d.Spec.Infra = "--exec=sh"
			d.Subcommand, d.Args = workflow.Command(d.Spec)
		},
	}
	ids := map[string]string{}
	for name, forge := range forged {
		id := events.NewID()
		data := workflow.TaskCreated(id, events.TaskSpec{Workflow: "servers", Operation: "create", Infra: "x"}, "cli", 60)
		forge(&data)
		e, err := events.New(events.TaskCreated, id, data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.Append(context.Background(), e, eventstore.ExpectLast(0)); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	for name, id := range ids {
		eventstest.Eventually(t, 10*time.Second, func() bool {
			h, _ := head(t, env, id)
			return h.Status == events.StatusFailed
		}, "%s: the forged job was not failed", name)
		_, last := head(t, env, id)
		var d events.TaskStatusChangedData
		if err := last.Decode(&d); err != nil || !strings.Contains(d.Error, "refused") {
			t.Fatalf("%s: final event %+v (%v)", name, d, err)
		}
	}
	select {
	case id := <-g.started:
		t.Fatalf("the CLI ran for forged job %s", id)
	default:
	}
}
