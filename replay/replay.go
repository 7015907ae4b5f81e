// Package replay rebuilds the views of the event stream from scratch and
// compares them: with the views a live instance holds (loaded from the
// latest snapshots and caught up to the same position), and with what an
// instance's API answers. It also shows the state as it was at an earlier
// position. `provisioning replay` is its command line.
package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/projections"
)

// Views are the views of PROV_EVENTS.
type Views struct {
	Tasks       *projections.Tasks
	Batches     *projections.Batches
	Rollbacks   *projections.Rollbacks
	Checkpoints *projections.Checkpoints
}

// NewViews returns empty views.
func NewViews() Views {
	t, b, r, c := projections.EventViews()
	return Views{t, b, r, c}
}

// All lists the views in the order an instance's runner holds them.
func (v Views) All() []projections.Canonicalizer {
	return []projections.Canonicalizer{v.Tasks, v.Batches, v.Rollbacks, v.Checkpoints}
}

func (v Views) projections() []projections.Projection {
	out := make([]projections.Projection, 0, 4)
	for _, c := range v.All() {
		out = append(out, c)
	}
	return out
}

// Source reads one deployment's streams and object stores, without
// creating or reconfiguring anything.
type Source struct {
	Store    *eventstore.Store
	timeline *projections.Timeline
	snaps    *projections.Snapshots
}

// NewSource looks up the object stores of store's deployment; missing
// ones mean no snapshots and no checkpoint objects (everything is then
// folded from the stream).
func NewSource(ctx context.Context, store *eventstore.Store) (*Source, error) {
	s := &Source{Store: store, timeline: &projections.Timeline{Store: store}}
	obs, err := store.JetStream().ObjectStore(ctx, projections.CheckpointObjectStore)
	switch {
	case err == nil:
		s.timeline.Objects = projections.CheckpointObjectsIn(obs)
	case !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("checkpoint objects: %w", err)
	}
	obs, err = store.JetStream().ObjectStore(ctx, projections.ObjectStoreName)
	switch {
	case err == nil:
		s.snaps = projections.SnapshotsIn(obs)
	case !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("view snapshots: %w", err)
	}
	return s, nil
}

// Last is the stream's last sequence now.
func (s *Source) Last(ctx context.Context) (uint64, error) {
	return s.Store.LastSeq(ctx, events.EventsStream)
}

// Rebuild folds the stream from its first event up to until into fresh
// views. failures counts events a view could not apply.
func (s *Source) Rebuild(ctx context.Context, until uint64) (v Views, failures int, err error) {
	v = NewViews()
	failures, err = projections.Fold(ctx, s.Store, projections.FoldRange{Until: until}, s.timeline, v.projections()...)
	return v, failures, err
}

// LiveStart says where one view of Live started from.
type LiveStart struct {
	View string
	// Seq is the sequence of the snapshot it was loaded from (0: none,
	// or one that could not be used).
	Seq uint64
	// Problem says why a snapshot was not used.
	Problem string
}

// Live builds the views as an instance starting now would: each loaded
// from its latest snapshot (when it is intact), then caught up to until,
// or to the newest snapshot's sequence when one was taken after until
// (the service runs on): reached is where they all are.
func (s *Source) Live(ctx context.Context, until uint64) (v Views, starts []LiveStart, reached uint64, failures int, err error) {
	v = NewViews()
	last, err := s.Last(ctx)
	if err != nil {
		return v, nil, 0, 0, err
	}
	reached = until
	for _, p := range v.projections() {
		start := LiveStart{View: p.Name()}
		if s.snaps != nil {
			seq, err := s.snaps.Load(ctx, p, last)
			if err != nil {
				start.Problem = err.Error()
				p.Reset()
				seq = 0
			}
			start.Seq = seq
		}
		starts = append(starts, start)
		reached = max(reached, start.Seq)
	}
	// Views that start from the same sequence are caught up in one read
	// of the stream, in the order their first view is held.
	var order []uint64
	groups := map[uint64][]projections.Projection{}
	for i, p := range v.projections() {
		seq := starts[i].Seq
		if _, ok := groups[seq]; !ok {
			order = append(order, seq)
		}
		groups[seq] = append(groups[seq], p)
	}
	for _, seq := range order {
		n, err := projections.Fold(ctx, s.Store, projections.FoldRange{From: seq + 1, Until: reached}, s.timeline, groups[seq]...)
		if err != nil {
			return v, starts, reached, failures, err
		}
		failures += n
	}
	return v, starts, reached, failures, nil
}

// SeqAt is the last sequence stored at or before t (0: none).
func (s *Source) SeqAt(ctx context.Context, t time.Time) (uint64, error) {
	first, err := s.Store.SeqAt(ctx, events.EventsStream, t.Add(time.Nanosecond))
	if err != nil {
		return 0, err
	}
	return first - 1, nil
}
