package executors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/workflow"
)

// Why a run stopped early. They are context causes, not errors of the run.
var (
	errCancelled = errors.New("cancelled on request")
	errLost      = errors.New("job lost to a newer attempt")
	errShutdown  = errors.New("executor shutting down")
	errTimeout   = errors.New("timed out")
)

// maxConflicts bounds how often a worker re-reads a task whose head moved
// while it was deciding; more means something else keeps writing to it.
const maxConflicts = 5

// execution is one attempt at one task. Its appends form a chain: each
// expects the sequence of the previous one, so a stale attempt (its job
// was redelivered to another worker) cannot record anything.
type execution struct {
	pool    *Pool
	task    events.TaskCreatedData
	attempt int
	stop    context.CancelCauseFunc

	mu       sync.Mutex
	seq      uint64
	cause    events.Envelope
	progress chan Progress // the latest progress line not yet recorded
	lastMu   sync.Mutex
	last     Progress // the latest progress line, recorded or not
}

// handle runs one delivered job and decides its ack.
func (p *Pool) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		p.log.Error("job without metadata", "err", err)
		_ = msg.Term()
		return
	}
	env, err := events.Parse(msg.Data(), meta.Sequence.Stream)
	var task events.TaskCreatedData
	if err == nil {
		err = env.Decode(&task)
	}
	if err != nil {
		p.log.Error("unreadable job dropped", "seq", meta.Sequence.Stream, "err", err)
		_ = msg.Term()
		return
	}
	if meta.NumDelivered > 1 {
		p.metrics.redeliveries.Inc()
	}
	x, err := p.begin(ctx, env, task, meta.NumDelivered)
	switch {
	case err != nil:
		p.log.Warn("job not started, retrying later", "task", task.TaskID, "err", err)
		_ = msg.NakWithDelay(time.Second)
	case x == nil:
		_ = msg.Ack()
	default:
		p.execute(ctx, msg, x)
	}
}

// begin appends the attempt's Running status, or settles a job that has
// nothing left to run. It returns nil when the job is done with.
func (p *Pool) begin(ctx context.Context, cause events.Envelope, task events.TaskCreatedData, delivered uint64) (*execution, error) {
	// On a first delivery the job itself is most likely the task's head:
	// try it without a read; a conflict means the task moved (cancelled
	// before it started) and the loop reads the real head.
	guess := delivered == 1
	// The job is checked before anything of it runs: the stream is the
	// API's output, but whatever could append to it must not choose what
	// this process executes.
	refusal := p.cfg.Rules.CheckJob(task)
	for range maxConflicts {
		last := cause
		if !guess {
			var err error
			if last, err = p.store.Last(ctx, events.AggTask, task.TaskID); err != nil {
				return nil, err
			}
		}
		guess = false
		h, err := workflow.HeadOf(last)
		if err != nil {
			return nil, err
		}
		x := &execution{pool: p, task: task, attempt: h.Attempt + 1, seq: h.Seq, cause: cause}
		var status, reason string
		switch {
		case events.Terminal(h.Status):
			return nil, nil
		case h.CancelRequested:
			status, reason = events.StatusCancelled, "cancelled before this attempt started"
		case refusal != nil:
			status, reason = events.StatusFailed, "refused before running: "+refusal.Error()
		case delivered > uint64(p.cfg.MaxAttempts):
			status = events.StatusFailed
			reason = fmt.Sprintf("gave up after %d deliveries: the executors running it stopped answering each time", delivered-1)
		default:
			status = events.StatusRunning
		}
		err = x.append(ctx, events.TaskStatusChanged, events.TaskStatusChangedData{
			TaskID: task.TaskID, Status: status, Attempt: x.attempt, Executor: p.cfg.ID, Error: reason,
			BatchID: task.BatchID, OperationID: task.OperationID})
		if errors.Is(err, eventstore.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if status != events.StatusRunning {
			if refusal != nil {
				p.log.Error("job refused: it does not pass the API's rules", "task", task.TaskID, "seq", cause.Seq, "actor", cause.Actor, "err", refusal)
			}
			p.metrics.finished(status, 0)
			return nil, nil
		}
		return x, nil
	}
	return nil, fmt.Errorf("task %s: head kept moving", task.TaskID)
}

// append stores one event of this attempt, expecting the chain's head.
func (x *execution) append(ctx context.Context, t events.Type, data any) error {
	e, err := events.New(t, x.task.TaskID, data)
	if err != nil {
		return err
	}
	e = e.Caused(x.cause)
	e.Actor = "executor:" + x.pool.cfg.ID
	x.mu.Lock()
	defer x.mu.Unlock()
	stored, err := x.pool.store.Append(ctx, e, eventstore.ExpectLast(x.seq))
	if err != nil {
		return err
	}
	x.seq = stored.Seq
	return nil
}

// reconcile looks at a task whose head moved under this attempt. A
// cancellation request is adopted (the run stops, the final status may
// still be written); anything else means another attempt owns the task.
func (x *execution) reconcile(ctx context.Context) error {
	last, err := x.pool.store.Last(ctx, events.AggTask, x.task.TaskID)
	if err != nil {
		return err
	}
	h, err := workflow.HeadOf(last)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case h.Seq == x.seq:
		return nil
	case h.CancelRequested:
		x.seq = h.Seq
		x.stop(errCancelled)
		return nil
	default:
		x.stop(errLost)
		return errLost
	}
}

// offer hands the latest progress line to the reporter without ever
// waiting: it runs in the goroutine copying the process's stdout, which
// must keep reading whatever the event store does (a leader election can
// hold an append for seconds). An older line not yet recorded is dropped.
func (x *execution) offer(pr Progress) {
	x.lastMu.Lock()
	x.last = pr
	x.lastMu.Unlock()
	select {
	case x.progress <- pr:
		return
	default:
	}
	select {
	case <-x.progress:
	default:
	}
	select {
	case x.progress <- pr:
	default:
	}
}

// report records offered progress lines, at most one per
// ProgressInterval, until stop is closed.
func (x *execution) report(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case pr := <-x.progress:
			err := x.append(ctx, events.TaskProgress, events.TaskProgressData{
				TaskID: x.task.TaskID, Attempt: x.attempt, Progress: pr.Percent, Step: pr.Step,
				TotalSteps: pr.TotalSteps, BatchID: x.task.BatchID})
			if errors.Is(err, eventstore.ErrConflict) {
				_ = x.reconcile(ctx)
			}
			t := time.NewTimer(x.pool.cfg.ProgressInterval)
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// heartbeat keeps the job's ack timer from running out while the process
// lives and catches a cancellation or a lost job the notification missed.
func (x *execution) heartbeat(ctx context.Context, msg jetstream.Msg, done <-chan struct{}) {
	t := time.NewTicker(x.pool.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			_ = msg.InProgress()
			if err := x.reconcile(ctx); err != nil && !errors.Is(err, errLost) {
				x.pool.log.Warn("heartbeat check", "task", x.task.TaskID, "err", err)
			}
		}
	}
}

// execute runs the attempt and records its outcome.
func (p *Pool) execute(ctx context.Context, msg jetstream.Msg, x *execution) {
	timeout := time.Duration(x.task.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = p.cfg.DefaultTimeout
	}
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	x.stop = stop
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, timeout, errTimeout)
	defer cancelTimeout()

	p.track(x, true)
	defer p.track(x, false)
	p.metrics.started.Inc()
	hbDone := make(chan struct{})
	var hb sync.WaitGroup
	hb.Add(2)
	go func() { defer hb.Done(); x.heartbeat(ctx, msg, hbDone) }()
	x.progress = make(chan Progress, 1)
	go func() { defer hb.Done(); x.report(ctx, hbDone) }()

	started := time.Now()
	argv := append(append(append([]string{}, p.cfg.CLI...), x.task.Subcommand...), x.task.Args...)
	env := append(append([]string{}, p.cfg.Env...),
		"PROVISIONING_TASK_ID="+x.task.TaskID, fmt.Sprintf("PROVISIONING_ATTEMPT=%d", x.attempt))
	res := p.runner.Run(runCtx, Job{TaskID: x.task.TaskID, Attempt: x.attempt, Argv: argv, Env: env},
		x.offer)
	// The heartbeat and the reporter stop before the final status, so no
	// progress event can follow it.
	close(hbDone)
	hb.Wait()

	cause := context.Cause(runCtx)
	switch {
	case errors.Is(cause, errLost):
		p.log.Warn("attempt superseded, result dropped", "task", x.task.TaskID, "attempt", x.attempt)
		return
	case errors.Is(cause, errShutdown):
		_ = msg.Nak()
		return
	}
	status, output, errText := outcome(res, cause, timeout)
	if err := x.finish(ctx, status, output, errText, res.ExitCode); err != nil {
		if !errors.Is(err, errLost) {
			p.log.Error("result not recorded, job handed back", "task", x.task.TaskID, "err", err)
			_ = msg.NakWithDelay(time.Second)
		}
		return
	}
	p.metrics.finished(status, time.Since(started))
	_ = msg.Ack()
}

// finish appends the final status, adopting a cancellation request that
// arrived meanwhile.
func (x *execution) finish(ctx context.Context, status, output, errText string, exitCode int) error {
	data := events.TaskStatusChangedData{
		TaskID: x.task.TaskID, Status: status, Attempt: x.attempt, Executor: x.pool.cfg.ID,
		Output: output, Error: errText, BatchID: x.task.BatchID, OperationID: x.task.OperationID}
	x.lastMu.Lock()
	data.Step, data.TotalSteps, data.Progress = x.last.Step, x.last.TotalSteps, x.last.Percent
	x.lastMu.Unlock()
	if exitCode >= 0 {
		data.ExitCode = &exitCode
	}
	for range maxConflicts {
		err := x.append(ctx, events.TaskStatusChanged, data)
		if !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		if err := x.reconcile(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("task %s: head kept moving", x.task.TaskID)
}

// outcome maps a run's result to the task's final status.
func outcome(res Result, cause error, timeout time.Duration) (status, output, errText string) {
	switch {
	case errors.Is(cause, errCancelled):
		return events.StatusCancelled, res.Output, "cancelled while running"
	case errors.Is(cause, errTimeout):
		return events.StatusFailed, res.Output, fmt.Sprintf("timed out after %s; process group killed", timeout)
	case res.Err == nil && res.ExitCode == 0:
		return events.StatusCompleted, res.Output, ""
	}
	msg := res.Stderr
	if msg == "" && res.Err != nil {
		msg = res.Err.Error()
	}
	return events.StatusFailed, res.Output, msg
}

func (p *Pool) track(x *execution, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.running[x.task.TaskID] = x
	} else {
		delete(p.running, x.task.TaskID)
	}
}
