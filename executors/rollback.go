package executors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"provisioning/events"
	"provisioning/workflow"
)

// RollbackView is what the rollback coordinator reads: rollback states
// folded from the event stream (*projections.Rollbacks).
type RollbackView interface {
	// RollbackOf names the rollback an applied event is about, "" for
	// none.
	RollbackOf(env events.Envelope) string
	// DecideRollback returns a rollback's next decision and the rollback's
	// sequence; ok is false for an unknown rollback.
	DecideRollback(id string) (d workflow.RollbackDecision, seq uint64, ok bool)
	// ActiveRollbacks lists the rollbacks that have not finished.
	ActiveRollbacks() []string
}

// RollbackCoordinator drives rollbacks from their events, like the batch
// coordinator drives batches: the view's runner calls Observe after every
// event, Run decides for each rollback it touched. Its two decisions are
// safe to take in every instance at once and again after a crash:
// creating the next compensation task appends a TaskCreated whose id the
// RollbackStarted chose, expecting the task not to exist (a second
// creation is a conflict, never a duplicate); recording the end appends
// RollbackCompleted expecting the rollback's last sequence (only one is
// stored). The compensation tasks themselves are ordinary tasks that the
// executors run.
type RollbackCoordinator struct {
	store  *events.Store
	view   RollbackView
	log    *slog.Logger
	actor  string
	resync time.Duration

	mu    sync.Mutex
	dirty map[string]bool
	wake  chan struct{}
}

// NewRollbackCoordinator returns a coordinator over view; id names it in
// the events it appends, resync (default 1 s) is how often unfinished
// rollbacks are looked at without news.
func NewRollbackCoordinator(store *events.Store, view RollbackView, id string, resync time.Duration, log *slog.Logger) *RollbackCoordinator {
	if resync <= 0 {
		resync = time.Second
	}
	if id == "" {
		id = DefaultConfig().ID
	}
	return &RollbackCoordinator{store: store, view: view, log: log, actor: "rollback-coordinator:" + id, resync: resync,
		dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// Observe is the view runner's hook: it marks the rollback env touched.
// It never blocks.
func (c *RollbackCoordinator) Observe(env events.Envelope) {
	if id := c.view.RollbackOf(env); id != "" {
		c.mark(id)
	}
}

func (c *RollbackCoordinator) mark(id string) {
	c.mu.Lock()
	c.dirty[id] = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run decides until ctx ends, starting once ready is closed (the views
// have caught up): every unfinished rollback then picks up where it was.
func (c *RollbackCoordinator) Run(ctx context.Context, ready <-chan struct{}) error {
	select {
	case <-ready:
	case <-ctx.Done():
		return nil
	}
	tick := time.NewTicker(c.resync)
	defer tick.Stop()
	c.markActive()
	for {
		c.drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-tick.C:
			c.markActive()
		}
	}
}

func (c *RollbackCoordinator) markActive() {
	for _, id := range c.view.ActiveRollbacks() {
		c.mark(id)
	}
}

func (c *RollbackCoordinator) drain(ctx context.Context) {
	c.mu.Lock()
	ids := c.dirty
	c.dirty = map[string]bool{}
	c.mu.Unlock()
	for id := range ids {
		if ctx.Err() != nil {
			return
		}
		c.step(ctx, id)
	}
}

// step carries out the rollback's next decision.
func (c *RollbackCoordinator) step(ctx context.Context, id string) {
	d, seq, ok := c.view.DecideRollback(id)
	if !ok {
		return
	}
	if d.Create != nil {
		c.append(ctx, id, events.TaskCreated, d.Create.TaskID, *d.Create, events.ExpectLast(0))
	}
	if d.Complete != nil {
		c.append(ctx, id, events.RollbackCompleted, id, *d.Complete, events.ExpectLast(seq))
	}
}

func (c *RollbackCoordinator) append(ctx context.Context, rollbackID string, t events.Type, aggID string, data any, opt events.AppendOption) {
	e, err := events.New(t, aggID, data)
	if err != nil {
		c.log.Error("rollback decision not built", "rollback", rollbackID, "type", t, "err", err)
		return
	}
	e.Actor, e.CorrelationID = c.actor, rollbackID
	_, err = c.store.Append(ctx, e, opt)
	switch {
	case err == nil, errors.Is(err, events.ErrConflict):
		// Stored, by us or by another coordinator first.
	case ctx.Err() == nil:
		c.log.Warn("rollback decision not stored, retrying on the next resync", "rollback", rollbackID, "type", t, "err", err)
	}
}
