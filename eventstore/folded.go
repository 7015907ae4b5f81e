package eventstore

import (
	"context"
	"time"

	"provisioning/events"
)

// View is a read model that can say when it has folded an event: a
// projections.Runner, or a wrapper that bounds its wait.
type View interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// DecideFolded is Decide for decisions made from a view rather than from
// the last event alone (a user's roles, a webhook's failure count: the
// fold of many events). Before decide runs, view has folded the fence's
// last event, so the state decide reads is exactly the state the append
// expects; when another writer wins, the next attempt waits for the
// winner's event in the view. A view that cannot catch up ends Decide
// with the view's error.
func (s *Store) DecideFolded(ctx context.Context, f Fence, view View, decide Decision, opts ...AppendOption) (events.Envelope, error) {
	return s.Decide(ctx, f, func(last events.Envelope, exists bool) (*events.Envelope, error) {
		if exists {
			if err := view.WaitFor(ctx, last.Seq); err != nil {
				return nil, err
			}
		}
		return decide(last, exists)
	}, opts...)
}

// Bounded is view waiting at most wait each time: a view that falls
// behind ends the decision (with the view's error) instead of holding it.
func Bounded(view View, wait time.Duration) View { return bounded{view, wait} }

type bounded struct {
	view View
	wait time.Duration
}

func (b bounded) WaitFor(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	return b.view.WaitFor(ctx, seq)
}
