package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/eventstore"
)

// Projection is a deterministic fold of one stream's events into a view.
// Apply is called by the runner only, one event at a time in stream order;
// the projection guards its own state against concurrent readers.
type Projection interface {
	// Name identifies the projection's snapshot.
	Name() string
	// Apply folds one event. An error is logged and counted; the event is
	// skipped, never retried (it would fail the same way).
	Apply(env events.Envelope) error
	// Snapshot encodes the view; Restore replaces the view with a
	// decoded snapshot or fails without changing it; Reset empties it.
	Snapshot() ([]byte, error)
	Restore(data []byte) error
	Reset()
}

// ErrBehind is returned by the waits when the view did not reach the
// sequence before the deadline.
var ErrBehind = errors.New("the view is behind the event stream")

// Runner folds one stream into its projections. Create it with NewRunner,
// start it with Run, and read through the projections after Ready.
type Runner struct {
	store       *eventstore.Store
	stream      events.Stream
	projections []Projection
	snaps       *Snapshots
	log         *slog.Logger

	// SnapshotEvery and SnapshotInterval: a snapshot is written after this
	// many events, or this long after the last one when events arrived.
	// Encoding a snapshot costs time proportional to the view, so the
	// defaults (a million events, a minute) keep it rare under load; a
	// restart replays at most what arrived since.
	SnapshotEvery    int
	SnapshotInterval time.Duration

	// Timeline answers what the views held at an earlier sequence, for
	// the StateRestored events (see Rewinder); nil: restores are not
	// folded (and counted as failures).
	Timeline StateSource

	seq      atomic.Uint64
	applied  []uint64 // per projection: last seq applied or restored
	applyMu  sync.Mutex
	ctx      context.Context
	mu       sync.Mutex
	changed  chan struct{}
	ready    chan struct{}
	hooks    []func(events.Envelope)
	failures atomic.Uint64
}

// NewRunner returns a runner over stream for projections; snaps may be nil
// (no snapshots).
func NewRunner(store *eventstore.Store, stream events.Stream, snaps *Snapshots, log *slog.Logger, projections ...Projection) *Runner {
	return &Runner{
		store: store, stream: stream, projections: projections, snaps: snaps, log: log,
		SnapshotEvery: 1_000_000, SnapshotInterval: time.Minute,
		applied: make([]uint64, len(projections)),
		changed: make(chan struct{}), ready: make(chan struct{}),
	}
}

// Add adds projections to the runner's. Call it before Run.
func (r *Runner) Add(projections ...Projection) {
	r.projections = append(r.projections, projections...)
	r.applied = append(r.applied, make([]uint64, len(projections))...)
}

// OnApply registers fn to run after each event has been applied to every
// projection, in the runner's goroutine. fn must not block. Register hooks
// before Run.
func (r *Runner) OnApply(fn func(events.Envelope)) { r.hooks = append(r.hooks, fn) }

// Seq is the last stream sequence applied.
func (r *Runner) Seq() uint64 { return r.seq.Load() }

// Failures counts events a projection could not apply.
func (r *Runner) Failures() uint64 { return r.failures.Load() }

// Ready is closed once the runner has caught up with the stream as it was
// when Run started.
func (r *Runner) Ready() <-chan struct{} { return r.ready }

// Run restores the projections, catches up and follows the stream until
// ctx ends. It writes a last snapshot before returning.
func (r *Runner) Run(ctx context.Context) error {
	r.ctx = ctx
	r.applyMu.Lock()
	start := r.restore(ctx)
	r.advance(start)
	r.applyMu.Unlock()
	target, err := r.store.LastSeq(ctx, r.stream)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("projections %s: %w", r.stream.Name, err)
	}
	var readyOnce sync.Once
	markReady := func() { readyOnce.Do(func() { close(r.ready) }) }
	if target <= start {
		markReady()
	}
	var sinceSnap int
	lastSnap := time.Now()
	err = r.store.Follow(ctx, r.stream, eventstore.Position{From: start + 1}, func(env events.Envelope, perr error) error {
		r.apply(env, perr)
		if env.Seq >= target {
			markReady()
		}
		sinceSnap++
		if sinceSnap >= r.SnapshotEvery || time.Since(lastSnap) >= r.SnapshotInterval {
			if r.snapshot(ctx) {
				sinceSnap, lastSnap = 0, time.Now()
			}
		}
		return nil
	})
	if sinceSnap > 0 {
		r.snapshot(ctx)
	}
	if err != nil {
		return fmt.Errorf("projections %s: %w", r.stream.Name, err)
	}
	return nil
}

func (r *Runner) apply(env events.Envelope, perr error) {
	// Capture takes applyMu too: it sees every projection between the
	// same two events.
	r.applyMu.Lock()
	if perr != nil {
		r.failures.Add(1)
		r.log.Error("unreadable event skipped", "stream", r.stream.Name, "seq", env.Seq, "err", perr)
	} else {
		if env.Type == events.StateRestored {
			r.rewind(env)
		}
		for i, p := range r.projections {
			if env.Seq <= r.applied[i] {
				continue
			}
			if err := p.Apply(env); err != nil {
				r.failures.Add(1)
				r.log.Error("event not applied", "projection", p.Name(), "seq", env.Seq, "type", env.Type, "err", err)
			}
			r.applied[i] = env.Seq
		}
	}
	r.advance(env.Seq)
	r.applyMu.Unlock()
	if perr == nil {
		for _, h := range r.hooks {
			h(env)
		}
	}
}

// advance publishes a new position and wakes every waiter.
func (r *Runner) advance(seq uint64) {
	r.seq.Store(seq)
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// WaitFor blocks until the runner has applied seq, ctx ends (ErrBehind)
// or the deadline passes.
func (r *Runner) WaitFor(ctx context.Context, seq uint64) error {
	for {
		if r.seq.Load() >= seq {
			return nil
		}
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if r.seq.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: at seq %d, waiting for %d", ErrBehind, r.seq.Load(), seq)
		}
	}
}

// WaitForLatest waits until the view has applied everything the stream
// held when it was called: a read after a write anywhere sees the write.
func (r *Runner) WaitForLatest(ctx context.Context) error {
	last, err := r.store.LastSeq(ctx, r.stream)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBehind, err)
	}
	return r.WaitFor(ctx, last)
}

// restore loads each projection's snapshot and returns the sequence to
// follow from: the lowest any projection has seen.
func (r *Runner) restore(ctx context.Context) uint64 {
	if r.snaps == nil {
		return 0
	}
	last, err := r.store.LastSeq(ctx, r.stream)
	if err != nil {
		r.log.Warn("cannot read stream state, replaying everything", "stream", r.stream.Name, "err", err)
		return 0
	}
	start := uint64(0)
	for i, p := range r.projections {
		seq, err := r.snaps.Load(ctx, p, last)
		if err != nil {
			r.log.Warn("snapshot not used, rebuilding from the stream", "projection", p.Name(), "err", err)
			p.Reset()
			seq = 0
		}
		r.applied[i] = seq
		if i == 0 || seq < start {
			start = seq
		}
	}
	return start
}

// snapshot saves every projection and reports whether all were saved. It
// does not stop when ctx ends: the last snapshot is taken on the way out.
func (r *Runner) snapshot(ctx context.Context) bool {
	if r.snaps == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ok := true
	for i, p := range r.projections {
		if err := r.snaps.Save(ctx, p, r.applied[i]); err != nil {
			r.log.Warn("snapshot failed", "projection", p.Name(), "err", err)
			ok = false
		}
	}
	return ok
}

// ObjectStoreName is the object store holding snapshots.
const ObjectStoreName = "PROV_SNAPSHOTS"

// OpenSnapshots creates or opens the snapshot object store.
func OpenSnapshots(ctx context.Context, store *eventstore.Store) (*Snapshots, error) {
	obs, err := store.ObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: ObjectStoreName, Description: "view snapshots"})
	if err != nil {
		return nil, err
	}
	return &Snapshots{obs: obs}, nil
}

// WaitUntil blocks until cond holds, checking it after every applied
// event, or until ctx ends (ErrBehind). cond runs without the runner's
// locks and should read views through their methods.
func (r *Runner) WaitUntil(ctx context.Context, cond func() bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: condition not reached at seq %d", ErrBehind, r.seq.Load())
		}
	}
}

// Collector reports how far the runner is behind its stream and how many
// events it could not apply; the lag is read from JetStream at scrape time.
func (r *Runner) Collector() prometheus.Collector {
	stream := prometheus.Labels{"stream": r.stream.Name}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "projection_lag_events", Help: "Events in the stream the views have not applied yet.", ConstLabels: stream,
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		last, err := r.store.LastSeq(ctx, r.stream)
		if err != nil || last < r.Seq() {
			return 0
		}
		return float64(last - r.Seq())
	})
}

// FailuresCollector counts events a projection could not apply.
func (r *Runner) FailuresCollector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "projection_apply_failures_total", Help: "Events a view could not apply (logged with their sequence).",
		ConstLabels: prometheus.Labels{"stream": r.stream.Name},
	}, func() float64 { return float64(r.Failures()) })
}

// Stream is the stream the runner folds.
func (r *Runner) Stream() events.Stream { return r.stream }

// Marks are the positions stored of the runner's stream: the sequence of
// each of its projections' snapshots. Call it before Run; a mark beyond
// the stream's end is proof that events were lost (eventstore.CheckLoss).
func (r *Runner) Marks(ctx context.Context) ([]eventstore.Mark, error) {
	if r.snaps == nil {
		return nil, nil
	}
	var marks []eventstore.Mark
	for _, p := range r.projections {
		seq, ok, err := r.snaps.Seq(ctx, p.Name())
		if err != nil {
			return nil, err
		}
		if ok {
			marks = append(marks, eventstore.Mark{What: "the snapshot of view " + p.Name(), Seq: seq})
		}
	}
	return marks, nil
}

// DropSnapshotsAfter deletes the snapshots taken after seq, so that Run
// rebuilds their views from the stream as it is: after an operator
// accepted that the events beyond seq are lost.
func (r *Runner) DropSnapshotsAfter(ctx context.Context, seq uint64) error {
	if r.snaps == nil {
		return nil
	}
	for _, p := range r.projections {
		at, ok, err := r.snaps.Seq(ctx, p.Name())
		if err != nil {
			return err
		}
		if ok && at > seq {
			if err := r.snaps.Drop(ctx, p.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}
