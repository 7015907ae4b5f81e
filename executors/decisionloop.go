package executors

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// defaultBacklog is how long an id may wait for a decision before a
// coordinator reports itself Degraded.
const defaultBacklog = 10 * time.Second

// decisionLoop is what the batch and rollback coordinators share: the
// set of ids (batches, rollbacks) marked for a decision, the loop that
// drains it, and the figures their health is made of. mark is safe for
// concurrent use and never blocks; the callbacks given to run are called
// from run's goroutine only.
type decisionLoop struct {
	resync time.Duration

	mu       sync.Mutex
	dirty    map[string]time.Time // id -> when it was first marked
	deciding int                  // ids taken from dirty and not yet decided
	wake     chan struct{}

	started  atomic.Bool
	lastLoop atomic.Int64 // unix nanoseconds
}

func newDecisionLoop(resync time.Duration) *decisionLoop {
	return &decisionLoop{resync: resync, dirty: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// mark asks for a decision on id and wakes the loop.
func (l *decisionLoop) mark(id string) {
	l.mu.Lock()
	if _, ok := l.dirty[id]; !ok {
		l.dirty[id] = time.Now()
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run decides until ctx ends. It starts once ready is closed (the view
// has caught up with the stream), then calls resync, and again every
// resync period; each time it wakes it calls step once for every id
// marked so far.
func (l *decisionLoop) run(ctx context.Context, ready <-chan struct{}, resync func(), step func(ctx context.Context, id string)) error {
	l.lastLoop.Store(time.Now().UnixNano())
	select {
	case <-ready:
	case <-ctx.Done():
		return nil
	}
	l.started.Store(true)
	resync()
	tick := time.NewTicker(l.resync)
	defer tick.Stop()
	for {
		l.lastLoop.Store(time.Now().UnixNano())
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-tick.C:
			resync()
		}
		l.drain(ctx, step)
	}
}

// drain takes every id marked so far and steps each once: under load,
// many events of an id make one decision.
func (l *decisionLoop) drain(ctx context.Context, step func(ctx context.Context, id string)) {
	l.mu.Lock()
	ids := l.dirty
	l.dirty = make(map[string]time.Time, len(ids))
	l.deciding = len(ids)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.deciding = 0
		l.mu.Unlock()
	}()
	for id := range ids {
		if ctx.Err() != nil {
			return
		}
		step(ctx, id)
		l.mu.Lock()
		l.deciding--
		l.mu.Unlock()
	}
}

// awaiting is the number of ids marked and not yet decided, those being
// decided included.
func (l *decisionLoop) awaiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.dirty) + l.deciding
}

// oldest is how long the id marked longest ago (and not yet taken) has
// waited, zero when none waits.
func (l *decisionLoop) oldest() time.Duration {
	l.mu.Lock()
	var first time.Time
	for _, at := range l.dirty {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	l.mu.Unlock()
	if first.IsZero() {
		return 0
	}
	return time.Since(first)
}

// health is Unhealthy when the loop has not turned for three resync
// periods, Degraded while it waits for the views to catch up or an id
// has waited longer than backlog for a decision; what names the ids in
// the detail ("batches").
func (l *decisionLoop) health(backlog time.Duration, what string) (status, detail string) {
	last := time.Unix(0, l.lastLoop.Load())
	if l.lastLoop.Load() == 0 || time.Since(last) > 3*l.resync+time.Second {
		return "Unhealthy", "decision loop not running since " + last.UTC().Format(time.RFC3339)
	}
	if !l.started.Load() {
		return "Degraded", "waiting for the views to catch up with the event stream"
	}
	if age := l.oldest(); age > backlog {
		return "Degraded", what + " waiting for a decision: " + age.Round(time.Second).String() + " behind"
	}
	return "Healthy", ""
}
