package executors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"provisioning/events"
	"provisioning/eventstore"
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
	store *eventstore.Store
	view  RollbackView
	log   *slog.Logger
	actor string
	loop  *decisionLoop
}

// NewRollbackCoordinator returns a coordinator over view; id names it in
// the events it appends, resync (default 1 s) is how often unfinished
// rollbacks are looked at without news.
func NewRollbackCoordinator(store *eventstore.Store, view RollbackView, id string, resync time.Duration, log *slog.Logger) *RollbackCoordinator {
	if resync <= 0 {
		resync = time.Second
	}
	if id == "" {
		id = DefaultConfig().ID
	}
	return &RollbackCoordinator{store: store, view: view, log: log, actor: "rollback-coordinator:" + id, loop: newDecisionLoop(resync)}
}

// Observe is the view runner's hook: it marks the rollback env touched.
// It never blocks.
func (c *RollbackCoordinator) Observe(env events.Envelope) {
	if id := c.view.RollbackOf(env); id != "" {
		c.loop.mark(id)
	}
}

// Run decides until ctx ends, starting once ready is closed (the views
// have caught up): every unfinished rollback then picks up where it was.
func (c *RollbackCoordinator) Run(ctx context.Context, ready <-chan struct{}) error {
	return c.loop.run(ctx, ready, c.markActive, c.step)
}

func (c *RollbackCoordinator) markActive() {
	for _, id := range c.view.ActiveRollbacks() {
		c.loop.mark(id)
	}
}

// Awaiting is the number of rollbacks with events the coordinator has
// not decided on yet, those being decided included.
func (c *RollbackCoordinator) Awaiting() int { return c.loop.awaiting() }

// Health reports whether the coordinator is alive and keeping up, as the
// batch coordinator's Health does: Unhealthy when its loop has not turned
// for three resync periods, Degraded while it waits for the views to
// catch up or a rollback has waited longer than 10 s for a decision.
func (c *RollbackCoordinator) Health() (status, detail string) {
	return c.loop.health(defaultBacklog, "rollbacks")
}

// step carries out the rollback's next decision.
func (c *RollbackCoordinator) step(ctx context.Context, id string) {
	d, seq, ok := c.view.DecideRollback(id)
	if !ok {
		return
	}
	if d.Create != nil {
		c.append(ctx, id, events.TaskCreated, d.Create.TaskID, *d.Create, eventstore.ExpectLast(0))
	}
	if d.Complete != nil {
		c.append(ctx, id, events.RollbackCompleted, id, *d.Complete, eventstore.ExpectLast(seq))
	}
}

func (c *RollbackCoordinator) append(ctx context.Context, rollbackID string, t events.Type, aggID string, data any, opt eventstore.AppendOption) {
	e, err := events.New(t, aggID, data)
	if err != nil {
		c.log.Error("rollback decision not built", "rollback", rollbackID, "type", t, "err", err)
		return
	}
	e.Actor, e.CorrelationID = c.actor, rollbackID
	_, err = c.store.Append(ctx, e, opt)
	switch {
	case err == nil, errors.Is(err, eventstore.ErrConflict):
		// Stored, by us or by another coordinator first.
	case ctx.Err() == nil:
		c.log.Warn("rollback decision not stored, retrying on the next resync", "rollback", rollbackID, "type", t, "err", err)
	}
}
