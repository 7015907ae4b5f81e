package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"provisioning/client"
)

// watchKind says what an id names.
type watchKind int

const (
	kindAuto watchKind = iota
	kindTask
	kindBatch
)

func runWatch(a *app, args []string) error {
	fs := a.flags("watch", "watch TASK_ID|BATCH_ID [--task | --batch]")
	isTask := fs.Bool("task", false, "the id is a task's")
	isBatch := fs.Bool("batch", false, "the id is a batch's")
	pos, err := a.parse(fs, args, 1)
	if err != nil {
		return err
	}
	kind := kindAuto
	switch {
	case *isTask && *isBatch:
		return usagef("give at most one of --task and --batch")
	case *isTask:
		kind = kindTask
	case *isBatch:
		kind = kindBatch
	}
	return a.watch(pos[0], kind)
}

// watch follows a task or batch over the WebSocket until it ends and
// returns nil when it completed, exit code 1 otherwise. It subscribes
// before reading the current state, so no event falls between the two:
// events the state already holds are applied again, which changes
// nothing.
func (a *app) watch(id string, kind watchKind) error {
	st, err := a.lookup(id, kind)
	if err != nil {
		return err
	}
	view := a.newView(st)
	if st.done() {
		return view.finish(st)
	}
	opts := client.SubscribeOptions{Resume: true}
	if st.kind == kindTask {
		opts.TaskID = id
	} else {
		opts.BatchID = id
	}
	sub, err := a.client.Subscribe(a.ctx, opts)
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			return &exitError{code: ExitUnavailable, err: fmt.Errorf("watch needs the orchestrator's event stream, and %s/ws answered 404 (%s)", a.server, apiMessage(err))}
		}
		return err
	}
	defer sub.Close()
	if st, err = a.lookup(id, st.kind); err != nil {
		return err
	}
	view = a.newView(st)
	if st.done() {
		return view.finish(st)
	}
	view.render(st)
	return a.follow(sub, st, view)
}

// follow applies events to st until it ends, the stream fails or the
// command is interrupted.
func (a *app) follow(sub *client.Subscription, st *watchState, view watchView) error {
	ctx, cancel := context.WithCancel(a.ctx)
	evs := make(chan client.Event)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() { // owned here: ended by cancel below
		defer close(done)
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case evs <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case ev := <-evs:
			if st.apply(ev) {
				view.event(st, ev)
			}
			if st.done() {
				return view.finish(st)
			}
		case <-tick.C:
			view.render(st)
		case err := <-errc:
			if a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			// The stream ended for good: the state may still have ended.
			if final, lerr := a.lookup(st.id, st.kind); lerr == nil && final.done() {
				return view.finish(final)
			}
			return &exitError{code: ExitUnavailable, err: fmt.Errorf("event stream lost while watching %s: %w", st.id, err)}
		}
	}
}

// lookup reads the current state of a task or batch; kindAuto tries a
// task, then a batch.
func (a *app) lookup(id string, kind watchKind) (*watchState, error) {
	if kind != kindBatch {
		t, err := a.client.GetTask(a.ctx, id)
		if err == nil {
			return taskState(t), nil
		}
		if kind == kindTask || !errors.Is(err, client.ErrNotFound) {
			return nil, err
		}
	}
	b, err := a.client.GetBatch(a.ctx, id)
	if err == nil {
		return batchState(b), nil
	}
	if kind == kindAuto && errors.Is(err, client.ErrNotFound) {
		return nil, &exitError{code: ExitNotFound, err: fmt.Errorf("no task or batch %s", id)}
	}
	return nil, err
}

// watchState is what a watcher knows of a task or batch: its status and,
// per operation (a task is one operation), progress and current step.
type watchState struct {
	kind    watchKind
	id      string
	name    string
	status  string
	errMsg  string
	started time.Time
	ops     []*opState
	byID    map[string]*opState
	// taskOp maps the tasks of a batch to their operation.
	taskOp map[string]string
}

type opState struct {
	id       string
	status   string
	progress float64
	step     string
	total    int
	tasks    map[string]float64
}

func taskState(t *client.Task) *watchState {
	op := &opState{id: t.Name, status: t.Status, progress: t.Progress, step: deref(t.CurrentStep), tasks: map[string]float64{}}
	st := &watchState{kind: kindTask, id: t.ID, name: t.Name, status: t.Status, errMsg: deref(t.Error),
		ops: []*opState{op}, byID: map[string]*opState{t.ID: op}, taskOp: map[string]string{}, started: time.Now()}
	if t.StartedAt != nil {
		st.started = *t.StartedAt
	}
	return st
}

func batchState(b *client.Batch) *watchState {
	st := &watchState{kind: kindBatch, id: b.BatchID, name: b.Name, status: b.Status, errMsg: b.Error,
		byID: map[string]*opState{}, taskOp: map[string]string{}, started: b.CreatedAt}
	if st.started.IsZero() {
		st.started = time.Now()
	}
	for _, o := range b.Operations {
		op := &opState{id: o.ID, status: o.Status, progress: o.Progress, tasks: map[string]float64{}}
		for _, t := range o.Tasks {
			st.taskOp[t] = o.ID
		}
		st.ops = append(st.ops, op)
		st.byID[o.ID] = op
	}
	return st
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// done reports whether the task or batch has ended.
func (st *watchState) done() bool { return client.Terminal(st.status) }

// canonical spells a status as the API's views do, whatever case an
// event used.
func canonical(s string) string {
	for _, c := range []string{client.StatusPending, client.StatusRunning, client.StatusCompleted, client.StatusFailed,
		client.StatusCancelled, client.StatusSkipped, client.StatusRolledBack} {
		if strings.EqualFold(s, c) {
			return c
		}
	}
	return s
}

// apply folds one event into the state and reports whether it was about
// this task or batch.
func (st *watchState) apply(ev client.Event) bool {
	if st.kind == kindTask {
		return st.applyTask(ev)
	}
	return st.applyBatch(ev)
}

func (st *watchState) applyTask(ev client.Event) bool {
	op := st.ops[0]
	switch ev.Type {
	case client.EventTaskStatusChanged:
		var d client.TaskStatusData
		if ev.Decode(&d) != nil || d.TaskID != st.id {
			return false
		}
		st.status, op.status = canonical(d.Status), canonical(d.Status)
		switch st.status {
		case client.StatusRunning:
			op.progress, op.step = 0, ""
		case client.StatusCompleted:
			op.progress = 100
		}
		if d.Error != "" {
			st.errMsg = d.Error
		}
	case client.EventTaskProgress:
		var d client.TaskProgressData
		if ev.Decode(&d) != nil || d.TaskID != st.id {
			return false
		}
		op.progress = d.Progress
		if d.Step != "" {
			op.step = d.Step
		}
	default:
		return false
	}
	return true
}

func (st *watchState) applyBatch(ev client.Event) bool {
	switch ev.Type {
	case client.EventBatchStatusChanged:
		var d client.BatchStatusData
		if ev.Decode(&d) != nil || d.BatchID != st.id {
			return false
		}
		st.status = canonical(d.Status)
		if d.Error != "" {
			st.errMsg = d.Error
		}
	case client.EventOperationStatusChanged:
		var d client.OperationStatusData
		if ev.Decode(&d) != nil || d.BatchID != st.id {
			return false
		}
		op := st.op(d.OperationID)
		op.status = canonical(d.Status)
		op.progress = max(op.progress, d.Progress)
		if op.status == client.StatusCompleted {
			op.progress = 100
		}
		if d.TotalTasks > 0 {
			op.total = d.TotalTasks
		}
	case client.EventTaskCreated:
		var d client.TaskCreatedData
		if ev.Decode(&d) != nil || d.BatchID != st.id || d.OperationID == "" {
			return false
		}
		st.taskOp[d.TaskID] = d.OperationID
		if d.Compensates != "" {
			st.op(d.OperationID).step = "rolling back " + d.Name
		}
	case client.EventTaskStatusChanged:
		var d client.TaskStatusData
		if ev.Decode(&d) != nil || d.BatchID != "" && d.BatchID != st.id {
			return false
		}
		if d.OperationID != "" {
			st.taskOp[d.TaskID] = d.OperationID
		}
		opID, ok := st.taskOp[d.TaskID]
		if !ok {
			return false
		}
		op := st.op(opID)
		if strings.EqualFold(d.Status, client.StatusRunning) && !client.Terminal(op.status) {
			op.status = client.StatusRunning
		}
		if strings.EqualFold(d.Status, client.StatusCompleted) {
			op.tasks[d.TaskID] = 100
			op.progress = max(op.progress, op.mean())
		}
	case client.EventTaskProgress:
		var d client.TaskProgressData
		if ev.Decode(&d) != nil {
			return false
		}
		opID, ok := st.taskOp[d.TaskID]
		if !ok {
			return false
		}
		op := st.op(opID)
		op.tasks[d.TaskID] = d.Progress
		op.progress = max(op.progress, op.mean())
		if d.Step != "" {
			op.step = d.Step
		}
	default:
		return false
	}
	return true
}

// op returns the operation id, adding it when the batch view did not
// list it.
func (st *watchState) op(id string) *opState {
	if op, ok := st.byID[id]; ok {
		return op
	}
	op := &opState{id: id, status: client.StatusPending, tasks: map[string]float64{}}
	st.ops = append(st.ops, op)
	st.byID[id] = op
	return op
}

// mean is the operation's progress from its tasks' progress.
func (op *opState) mean() float64 {
	n := max(op.total, len(op.tasks))
	if n == 0 {
		return 0
	}
	sum := 0.0
	for _, p := range op.tasks {
		sum += p
	}
	return sum / float64(n)
}

// result is the exit of a watch: nil when the work completed.
func (st *watchState) result() error {
	if st.status == client.StatusCompleted {
		return nil
	}
	return exitCode(ExitFailed)
}
