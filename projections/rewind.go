package projections

import (
	"context"
	"fmt"
	"time"

	"provisioning/events"
)

// Rewinder is a view that a restore sets back (the tasks and the
// batches). When the runner folds a StateRestored it hands every
// Rewinder the snapshots of all the restorable views as they were at the
// checkpoint's sequence, keyed by view name; the view replaces its state
// with the restored one by its own rules (see Tasks.Rewind). The result
// must depend only on the stream: on the state before the restore and the
// state at the checkpoint.
type Rewinder interface {
	Projection
	Rewind(at map[string][]byte) error
}

// StateSource answers what the restorable views held at a checkpoint:
// their snapshots keyed by view name. *Timeline is the implementation.
type StateSource interface {
	StateAt(ctx context.Context, d events.StateRestoredData) (map[string][]byte, error)
}

// rewind folds a StateRestored into the Rewinders that have not seen it
// yet. The state at the checkpoint may need NATS (the checkpoint object,
// or the stream to recompute it): it is retried until it comes or the
// runner stops, since folding on without it would make the views wrong
// from here on.
func (r *Runner) rewind(env events.Envelope) {
	var due []Rewinder
	for i, p := range r.projections {
		if rw, ok := p.(Rewinder); ok && env.Seq > r.applied[i] {
			due = append(due, rw)
		}
	}
	if len(due) == 0 {
		return
	}
	var d events.StateRestoredData
	if err := env.Decode(&d); err != nil {
		r.failures.Add(1)
		r.log.Error("restore not applied", "seq", env.Seq, "err", err)
		return
	}
	if r.Timeline == nil {
		r.failures.Add(1)
		r.log.Error("restore not applied: the runner has no timeline", "seq", env.Seq, "checkpoint", d.CheckpointID)
		return
	}
	for _, err := range restore(r.ctx, r.Timeline, d, due, r.log.Warn) {
		r.failures.Add(1)
		r.log.Error("restore not applied", "seq", env.Seq, "checkpoint", d.CheckpointID, "err", err)
	}
}

// restore sets every view of due back to the state at d's checkpoint and
// returns what went wrong.
func restore(ctx context.Context, src StateSource, d events.StateRestoredData, due []Rewinder, warn func(string, ...any)) []error {
	states, err := stateAt(ctx, src, d, warn)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, rw := range due {
		if err := rw.Rewind(states); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rw.Name(), err))
		}
	}
	return errs
}

// stateAt asks src until it answers or ctx ends.
func stateAt(ctx context.Context, src StateSource, d events.StateRestoredData, warn func(string, ...any)) (map[string][]byte, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	wait := 100 * time.Millisecond
	for {
		states, err := src.StateAt(ctx, d)
		if err == nil {
			return states, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("state at seq %d: %w", d.Seq, err)
		}
		warn("state at a checkpoint not available yet, retrying", "checkpoint", d.CheckpointID, "seq", d.Seq, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("state at seq %d: %w", d.Seq, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// ErrNotAligned: the views are not all at the runner's position yet (they
// are catching up after loading snapshots of different ages).
var ErrNotAligned = fmt.Errorf("%w: the views are still catching up after a restart", ErrBehind)

// Capture runs fn between two events: every view has applied exactly the
// events up to seq and none changes until fn returns. fn must be quick
// (folding waits for it) and must not wait for the runner.
func (r *Runner) Capture(fn func(seq uint64, views []Projection) error) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	seq := r.seq.Load()
	for _, a := range r.applied {
		if a > seq {
			return ErrNotAligned
		}
	}
	return fn(seq, r.projections)
}
