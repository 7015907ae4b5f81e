package executors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/workflow"
)

// BatchView is what the coordinator reads: batch states folded from the
// event stream by the instance's views (*projections.Batches).
type BatchView interface {
	// BatchOf names the batch an applied event is about, "" for none.
	BatchOf(env events.Envelope) string
	// Decide returns a batch's next decision and the batch sequence it
	// was made at; ok is false for an unknown batch.
	Decide(id string) (d workflow.Decision, seq uint64, ok bool)
	// Active lists the batches that have not finished.
	Active() []string
}

// CoordinatorConfig tunes a Coordinator. Zero values take the defaults.
type CoordinatorConfig struct {
	// CLI is shown at the start of a task's command.
	CLI string
	// TaskTimeout is recorded in the tasks it creates.
	TaskTimeout time.Duration
	// CreateGrace is how long a task scheduled by another coordinator may
	// stay uncreated before this one creates it (the other one crashed
	// between its two appends). Default 2 s.
	CreateGrace time.Duration
	// Resync is how often every unfinished batch is looked at again even
	// without news (default 1 s): it creates what a crashed coordinator
	// left uncreated and bounds the cost of anything missed.
	Resync time.Duration
	// Backlog is how long a batch may wait for a decision before the
	// coordinator reports itself Degraded (default 10 s).
	Backlog time.Duration
	// ID names this coordinator in the events it appends.
	ID string
}

func (c CoordinatorConfig) withDefaults() CoordinatorConfig {
	if c.CreateGrace <= 0 {
		c.CreateGrace = 2 * time.Second
	}
	if c.Resync <= 0 {
		c.Resync = time.Second
	}
	if c.Backlog <= 0 {
		c.Backlog = defaultBacklog
	}
	if c.ID == "" {
		c.ID = DefaultConfig().ID
	}
	return c
}

// Coordinator turns batch states into decisions. It is event driven: the
// view's runner calls Observe after every event, which marks the batch
// the event touched; Run drains the marks and, for each batch once,
// decides from the view and appends the decision to the batch's own
// subject as a chain whose first event expects the batch's sequence as
// the view saw it. Two coordinators (two processes on one NATS) can thus
// never both store a decision made from the same state: the loser gets
// ErrConflict and waits for the winner's events, which mark the batch
// again. A stored BatchTasksScheduled is followed by the tasks' creation,
// each TaskCreated expecting the task not to exist: created twice is a
// conflict, never a duplicate. Tasks scheduled but not created (a crash
// between the two appends) are created by whichever coordinator sees them
// first after CreateGrace, on a restart as well.
type Coordinator struct {
	store   *eventstore.Store
	view    BatchView
	cfg     CoordinatorConfig
	log     *slog.Logger
	metrics *coordinatorMetrics
	loop    *decisionLoop

	// Owned by Run's goroutine: what this coordinator did to each
	// unfinished batch.
	batches map[string]*batchState
}

// batchState is what a coordinator remembers of its own work on a batch.
type batchState struct {
	head      uint64            // seq of our last append to the batch
	created   map[string]bool   // tasks created, or found existing
	cancelled map[string]uint64 // task -> head seq we asked to stop at
}

// state returns the batch's state, adding it when missing.
func (c *Coordinator) state(id string) *batchState {
	b := c.batches[id]
	if b == nil {
		b = &batchState{created: map[string]bool{}, cancelled: map[string]uint64{}}
		c.batches[id] = b
	}
	return b
}

// NewCoordinator returns a coordinator over view; reg receives its
// metrics and may be nil.
func NewCoordinator(store *eventstore.Store, view BatchView, cfg CoordinatorConfig, log *slog.Logger, reg prometheus.Registerer) *Coordinator {
	cfg = cfg.withDefaults()
	c := &Coordinator{
		store: store, view: view, cfg: cfg, log: log, metrics: newCoordinatorMetrics(reg),
		loop: newDecisionLoop(cfg.Resync), batches: map[string]*batchState{},
	}
	if reg != nil {
		// A coordinator that keeps batches waiting is falling behind.
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orchestrator_batches_awaiting_decision", Help: "Batches with events this instance's coordinator has not decided on yet."},
			func() float64 { return float64(c.Awaiting()) }))
	}
	return c
}

// Observe is the view runner's hook: it marks the batch env touched. It
// never blocks.
func (c *Coordinator) Observe(env events.Envelope) {
	if id := c.view.BatchOf(env); id != "" {
		c.loop.mark(id)
	}
}

// Run decides until ctx ends. It starts once ready is closed (the view
// has caught up with the stream), then looks at every unfinished batch:
// after a restart, each picks up where it was.
func (c *Coordinator) Run(ctx context.Context, ready <-chan struct{}) error {
	return c.loop.run(ctx, ready, c.resync, c.step)
}

// resync marks every unfinished batch and forgets the finished ones.
func (c *Coordinator) resync() {
	active := c.view.Active()
	live := make(map[string]bool, len(active))
	for _, id := range active {
		live[id] = true
		c.loop.mark(id)
	}
	for id := range c.batches {
		if !live[id] {
			delete(c.batches, id)
		}
	}
}

// Awaiting is the number of batches with events the coordinator has not
// decided on yet: zero means every decision the stream so far calls for
// has been made (and its events appended).
func (c *Coordinator) Awaiting() int { return c.loop.awaiting() }

// step carries out the effects of what is stored, then decides.
func (c *Coordinator) step(ctx context.Context, id string) {
	d, seq, ok := c.view.Decide(id)
	if !ok {
		return
	}
	if b := c.batches[id]; b != nil && seq < b.head {
		// The view has not yet seen our own last decision; deciding now
		// could only conflict. Its arrival marks the batch again.
		return
	}
	c.create(ctx, id, d.Create, false)
	c.cancel(ctx, id, d.Cancel)
	if d.Decides() {
		c.decide(ctx, id, d, seq)
	}
}

// decide appends the decision's events as a chain.
func (c *Coordinator) decide(ctx context.Context, id string, d workflow.Decision, seq uint64) {
	evs, plans, err := d.Events(id, c.store.NewID)
	if err != nil {
		c.log.Error("batch decision not built", "batch", id, "err", err)
		return
	}
	c.metrics.decisions.Inc()
	expect := seq
	for _, e := range evs {
		e.Actor, e.CorrelationID = "coordinator:"+c.cfg.ID, id
		stored, err := c.store.Append(ctx, e, eventstore.ExpectLast(expect))
		if errors.Is(err, eventstore.ErrConflict) {
			// Another coordinator decided first; its events mark the
			// batch again.
			c.metrics.conflicts.Inc()
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("batch decision not stored, retrying on the next resync", "batch", id, "type", e.Type, "err", err)
			}
			return
		}
		c.metrics.appended.WithLabelValues(string(e.Type)).Inc()
		expect = stored.Seq
		c.state(id).head = stored.Seq
		if e.Type == events.BatchTasksScheduled {
			c.create(ctx, id, plans, true)
		}
	}
}

// create appends the TaskCreated of planned tasks, each expecting the
// task not to exist. Tasks another coordinator scheduled are left to it
// for CreateGrace.
func (c *Coordinator) create(ctx context.Context, id string, plans []workflow.TaskPlan, mine bool) {
	if len(plans) == 0 {
		return
	}
	done := c.state(id).created
	timeout := int(c.cfg.TaskTimeout.Seconds())
	now := time.Now()
	evs := make([]events.Envelope, 0, len(plans))
	for _, p := range plans {
		if done[p.ID] || (!mine && now.Sub(p.ScheduledAt) < c.cfg.CreateGrace) {
			continue
		}
		e, err := events.New(events.TaskCreated, p.ID, p.TaskCreated(c.cfg.CLI, timeout))
		if err != nil {
			c.log.Error("task not built", "batch", id, "task", p.ID, "err", err)
			continue
		}
		e.Actor, e.CorrelationID = "coordinator:"+c.cfg.ID, id
		evs = append(evs, e)
	}
	if len(evs) == 0 {
		return
	}
	_, errs := c.store.AppendAll(ctx, evs, eventstore.ExpectLast(0))
	for i, err := range errs {
		switch {
		case err == nil:
			c.metrics.appended.WithLabelValues(string(events.TaskCreated)).Inc()
			done[evs[i].AggregateID] = true
		case errors.Is(err, eventstore.ErrConflict):
			done[evs[i].AggregateID] = true
		case ctx.Err() == nil:
			c.log.Warn("batch task not created, retrying on the next resync", "batch", id, "task", evs[i].AggregateID, "err", err)
		}
	}
}

// cancel stops the batch's running tasks, each expecting the head the
// view saw (a task that moved meanwhile is asked again once its event
// arrives).
func (c *Coordinator) cancel(ctx context.Context, id string, targets []workflow.CancelTarget) {
	if len(targets) == 0 {
		return
	}
	sent := c.state(id).cancelled
	for _, t := range targets {
		if at, ok := sent[t.TaskID]; ok && at >= t.Head.Seq {
			continue
		}
		e, err := workflow.CancelEvent(t.TaskID, t.Head, "batch "+id+" cancelled")
		if err != nil || e == nil {
			continue
		}
		e.Actor, e.CorrelationID = "coordinator:"+c.cfg.ID, id
		_, err = c.store.Append(ctx, *e, eventstore.ExpectLast(t.Head.Seq))
		switch {
		case err == nil:
			c.metrics.appended.WithLabelValues(string(e.Type)).Inc()
			sent[t.TaskID] = t.Head.Seq
		case errors.Is(err, eventstore.ErrConflict):
		case ctx.Err() == nil:
			c.log.Warn("batch task not cancelled, retrying", "batch", id, "task", t.TaskID, "err", err)
		}
	}
}

// Health reports whether the coordinator is alive and keeping up:
// Unhealthy when its loop has not turned for three resync periods,
// Degraded while it waits for the view to catch up or a batch has waited
// longer than Backlog for a decision.
func (c *Coordinator) Health() (status, detail string) {
	return c.loop.health(c.cfg.Backlog, "batches")
}

type coordinatorMetrics struct {
	decisions prometheus.Counter
	conflicts prometheus.Counter
	appended  *prometheus.CounterVec
}

func newCoordinatorMetrics(reg prometheus.Registerer) *coordinatorMetrics {
	m := &coordinatorMetrics{
		decisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orchestrator_batch_decisions_total", Help: "Batch decisions this instance's coordinator tried to store."}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orchestrator_batch_decision_conflicts_total", Help: "Batch decisions lost to another coordinator (or a newer event)."}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orchestrator_batch_events_appended_total", Help: "Events the batch coordinator appended, by type."}, []string{"type"}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.conflicts, m.appended)
	}
	return m
}
