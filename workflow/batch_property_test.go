package workflow_test

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"provisioning/events"
	"provisioning/workflow"
)

// TestBatchProperties drives the pure batch state machine through random
// batches (random DAGs of operations of every type, parallel limits,
// failing tasks and compensations, cancels at random moments, decisions
// stored late as a second coordinator's would be, tasks whose creation is
// lost to a crash) with a random executor, and checks after every step
// what users rely on:
//   - never more tasks scheduled and unfinished than parallel_limit;
//   - no task starts before the tasks it depends on completed;
//   - compensations are scheduled in reverse order of completion, and one
//     starts only after the compensations of its dependents finished;
//   - once the batch is Cancelled nothing runs and nothing starts;
//   - in the end the batch and every operation have a final status that
//     matches what happened, and every completed task of a rolled back
//     batch was compensated exactly once;
//   - the indexes rebuilt from a snapshot decide like the incremental ones.
func TestBatchProperties(t *testing.T) {
	// outcomes shows that the draws reach every ending.
	outcomes := map[string]int{}
	var mu sync.Mutex
	defer func() { t.Log("outcomes:", outcomes) }()
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(rt)
		w.run()
		w.checkEnd()
		mu.Lock()
		outcomes[w.b.Status]++
		if w.b.RollbackStarted {
			outcomes["rollback started"]++
		}
		mu.Unlock()
	})
}

type wtask struct {
	plan      workflow.TaskPlan
	ref       workflow.TaskRef
	status    string // Pending (scheduled), Running, Completed, Failed, Cancelled
	created   bool
	cancelReq bool
	seq       uint64
}

type world struct {
	t     *rapid.T
	spec  events.BatchCreatedData
	b     *workflow.Batch
	seq   uint64
	clock time.Time
	ids   int

	tasks        map[string]*wtask
	byRef        map[workflow.TaskRef]*wtask
	completions  []string          // originals, in order of completion
	compSchedule []string          // originals, in the order their compensation was scheduled
	compOf       map[string]string // original -> compensation
	fail         map[workflow.TaskRef]bool
	failComp     bool
	cancelAt     int // world step at which the user cancels, -1 never
	steps        int
	cancelled    bool // BatchCancelRequested stored
	failures     int
	compFailures int
	finalSeen    bool
}

func newWorld(t *rapid.T) *world {
	w := &world{t: t, clock: time.Unix(1700000000, 0).UTC(), tasks: map[string]*wtask{},
		byRef: map[workflow.TaskRef]*wtask{}, compOf: map[string]string{}, fail: map[workflow.TaskRef]bool{}}
	n := rapid.IntRange(1, 10).Draw(t, "operations")
	ops := make([]events.BatchOperation, n)
	for i := range ops {
		typ := rapid.SampledFrom([]string{events.OpServerBatch, events.OpTaskservBatch, events.OpClusterBatch}).Draw(t, "type")
		op := events.BatchOperation{ID: fmt.Sprintf("op%d", i), Type: typ, Infra: "prod", Dependencies: []string{}}
		tasks := rapid.IntRange(1, 3).Draw(t, "tasks")
		for k := 0; k < tasks; k++ {
			name := fmt.Sprintf("r%d-%d", i, k)
			switch typ {
			case events.OpServerBatch:
				op.ServerConfigs = append(op.ServerConfigs, map[string]string{"name": name})
			case events.OpTaskservBatch:
				op.Taskservs = append(op.Taskservs, name)
			default:
				op.Clusters = append(op.Clusters, name)
			}
			if rapid.IntRange(0, 99).Draw(t, "fails") < 4 {
				w.fail[workflow.TaskRef{Op: i, Index: k}] = true
			}
		}
		for j := 0; j < i; j++ {
			if rapid.IntRange(0, 99).Draw(t, "dep") < 30 {
				op.Dependencies = append(op.Dependencies, fmt.Sprintf("op%d", j))
			}
		}
		ops[i] = op
	}
	w.spec = events.BatchCreatedData{
		BatchID: "B", Name: "b", Infra: "prod", StorageBackend: "jetstream",
		ParallelLimit:   rapid.IntRange(1, 4).Draw(t, "limit"),
		RollbackEnabled: rapid.Bool().Draw(t, "rollback"),
		Operations:      ops,
	}
	w.failComp = rapid.IntRange(0, 99).Draw(t, "failComp") < 10
	w.cancelAt = -1
	if rapid.IntRange(0, 99).Draw(t, "cancels") < 25 {
		w.cancelAt = rapid.IntRange(0, 40).Draw(t, "cancelAt")
	}
	e := w.event(events.BatchCreated, "B", w.spec)
	w.b = workflow.NewBatch(e, w.spec)
	return w
}

func (w *world) event(typ events.Type, id string, data any) events.Envelope {
	e, err := events.New(typ, id, data)
	if err != nil {
		w.t.Fatalf("new event: %v", err)
	}
	w.seq++
	w.clock = w.clock.Add(time.Second)
	e.ID, e.Seq, e.Time = fmt.Sprintf("E%06d", w.seq), w.seq, w.clock
	return e
}

func (w *world) newID() string {
	w.ids++
	return fmt.Sprintf("T%05d", w.ids)
}

func (w *world) run() {
	for step := 0; step < 3000; step++ {
		d := w.b.Next()
		if rapid.IntRange(0, 99).Draw(w.t, "stale") < 15 && d.Decides() {
			// Another coordinator decided from this state; task events
			// arrive before its decision is stored. A batch event in
			// between would make the decision conflict: drop it then.
			before := w.b.Seq
			w.worldStep(false)
			if w.b.Seq != before {
				continue
			}
		}
		w.carryOut(d)
		if rapid.IntRange(0, 99).Draw(w.t, "rebuild") < 5 {
			w.checkRebuild()
		}
		if !w.worldStep(true) && w.b.Next().Empty() {
			return
		}
	}
	w.t.Fatalf("batch did not settle in 3000 steps: status %s", w.b.Status)
}

// carryOut stores the decision and its effects as a coordinator would.
func (w *world) carryOut(d workflow.Decision) {
	evs, plans, err := d.Events(w.b.ID, w.newID)
	if err != nil {
		w.t.Fatalf("decision events: %v", err)
	}
	for _, e := range evs {
		e = w.stamp(e)
		if err := w.b.Apply(e); err != nil {
			w.t.Fatalf("decision %s does not apply: %v", e.Type, err)
		}
		w.afterBatchEvent(e, plans)
	}
	lose := rapid.IntRange(0, 99).Draw(w.t, "lose") < 10
	for _, p := range plans {
		if !lose {
			w.create(p)
		}
	}
	for _, p := range d.Create {
		w.create(p)
	}
	for _, c := range d.Cancel {
		w.cancelTask(c)
	}
}

func (w *world) stamp(e events.Envelope) events.Envelope {
	w.seq++
	w.clock = w.clock.Add(time.Second)
	e.ID, e.Seq, e.Time = fmt.Sprintf("E%06d", w.seq), w.seq, w.clock
	return e
}

func (w *world) afterBatchEvent(e events.Envelope, plans []workflow.TaskPlan) {
	switch e.Type {
	case events.BatchTasksScheduled:
		for _, p := range plans {
			w.schedule(p)
		}
		if n := w.active(); n > w.spec.ParallelLimit {
			w.t.Fatalf("%d tasks scheduled and unfinished, parallel_limit %d", n, w.spec.ParallelLimit)
		}
	case events.BatchStatusChanged:
		w.finalSeen = true
		if w.b.Status == events.StatusCancelled {
			for id, task := range w.tasks {
				if !events.Terminal(task.status) {
					w.t.Fatalf("batch Cancelled while task %s is %s", id, task.status)
				}
			}
		}
	}
}

func (w *world) schedule(p workflow.TaskPlan) {
	task := &wtask{plan: p, status: events.StatusPending}
	if w.tasks[p.ID] != nil {
		w.t.Fatalf("task id %s scheduled twice", p.ID)
	}
	w.tasks[p.ID] = task
	if p.Compensates != "" {
		if w.compOf[p.Compensates] != "" {
			w.t.Fatalf("task %s compensated twice", p.Compensates)
		}
		if w.tasks[p.Compensates] == nil || w.tasks[p.Compensates].status != events.StatusCompleted {
			w.t.Fatalf("compensation of %s, which did not complete", p.Compensates)
		}
		w.compOf[p.Compensates] = p.ID
		w.compSchedule = append(w.compSchedule, p.Compensates)
		return
	}
	ref := workflow.TaskRef{Op: w.opIndex(p.OperationID), Index: p.Index}
	if w.byRef[ref] != nil {
		w.t.Fatalf("task %v scheduled twice", ref)
	}
	task.ref = ref
	w.byRef[ref] = task
	if w.finalSeen {
		w.t.Fatalf("task scheduled after the final status")
	}
}

func (w *world) opIndex(id string) int {
	for i, op := range w.spec.Operations {
		if op.ID == id {
			return i
		}
	}
	w.t.Fatalf("unknown operation %s", id)
	return -1
}

func (w *world) active() int {
	n := 0
	for _, task := range w.tasks {
		if !events.Terminal(task.status) {
			n++
		}
	}
	return n
}

func (w *world) create(p workflow.TaskPlan) {
	task := w.tasks[p.ID]
	if task == nil {
		w.t.Fatalf("created task %s was never scheduled", p.ID)
	}
	if task.created { // ExpectLast(0) refuses it: a conflict, not a duplicate
		return
	}
	task.created = true
	w.taskEvent(task, events.TaskCreated, p.TaskCreated("cli", 60))
}

func (w *world) taskEvent(task *wtask, typ events.Type, data any) {
	e := w.event(typ, task.plan.ID, data)
	task.seq = e.Seq
	if err := w.b.ApplyTask(e); err != nil {
		w.t.Fatalf("task event %s: %v", typ, err)
	}
}

func (w *world) cancelTask(c workflow.CancelTarget) {
	task := w.tasks[c.TaskID]
	if task == nil || c.Head.Seq != task.seq { // ExpectLast(head) conflicts
		return
	}
	e, err := workflow.CancelEvent(c.TaskID, c.Head, "batch cancelled")
	if err != nil || e == nil {
		return
	}
	if e.Type == events.TaskCancelRequested {
		task.cancelReq = true
	} else {
		task.status = events.StatusCancelled
	}
	stored := w.stamp(*e)
	task.seq = stored.Seq
	if err := w.b.ApplyTask(stored); err != nil {
		w.t.Fatal(err)
	}
}

// worldStep lets the executors or a user act once; it reports false when
// nothing could act. withBatch allows the user's batch cancel.
func (w *world) worldStep(withBatch bool) bool {
	var candidates []*wtask
	for _, id := range sortedKeys(w.tasks) {
		task := w.tasks[id]
		if task.created && !events.Terminal(task.status) {
			candidates = append(candidates, task)
		}
	}
	w.steps++
	canCancel := withBatch && !w.cancelled && !w.b.Terminal() && w.cancelAt >= 0
	if len(candidates) == 0 && !canCancel {
		return false
	}
	if canCancel && (w.steps >= w.cancelAt || len(candidates) == 0) {
		w.cancelled = true
		e := w.event(events.BatchCancelRequested, w.b.ID, events.BatchCancelRequestedData{BatchID: w.b.ID})
		if err := w.b.Apply(e); err != nil {
			w.t.Fatal(err)
		}
		return true
	}
	if len(candidates) == 0 {
		return true
	}
	task := candidates[rapid.IntRange(0, len(candidates)-1).Draw(w.t, "task")]
	switch task.status {
	case events.StatusPending:
		if task.cancelReq {
			w.end(task, events.StatusCancelled)
			return true
		}
		if w.finalSeen && w.b.Status == events.StatusCancelled {
			w.t.Fatalf("task %s starts after the batch was Cancelled", task.plan.ID)
		}
		w.checkStart(task)
		task.status = events.StatusRunning
		w.taskEvent(task, events.TaskStatusChanged, events.TaskStatusChangedData{TaskID: task.plan.ID, Status: events.StatusRunning, Attempt: 1})
	case events.StatusRunning:
		switch {
		case task.cancelReq:
			w.end(task, events.StatusCancelled)
		case rapid.IntRange(0, 9).Draw(w.t, "progress") == 0:
			w.taskEvent(task, events.TaskProgress, events.TaskProgressData{TaskID: task.plan.ID, Attempt: 1, Progress: 50, Step: "half"})
		case task.plan.Compensates == "" && w.fail[task.ref], task.plan.Compensates != "" && w.failComp:
			w.end(task, events.StatusFailed)
		default:
			w.end(task, events.StatusCompleted)
		}
	}
	return true
}

func (w *world) end(task *wtask, status string) {
	task.status = status
	w.taskEvent(task, events.TaskStatusChanged, events.TaskStatusChangedData{TaskID: task.plan.ID, Status: status, Attempt: 1, Error: "boom"})
	if task.plan.Compensates != "" {
		if status != events.StatusCompleted && !w.cancelled {
			w.compFailures++
		}
		return
	}
	switch {
	case status == events.StatusCompleted:
		w.completions = append(w.completions, task.plan.ID)
	case !w.cancelled || status == events.StatusFailed:
		w.failures++
	}
}

// checkStart: a task starts only when what it waits for has completed.
func (w *world) checkStart(task *wtask) {
	if orig := task.plan.Compensates; orig != "" {
		o := w.tasks[orig]
		for _, other := range w.tasks {
			if other.plan.Compensates != "" || other.status != events.StatusCompleted || !w.dependsOn(other.ref, o.ref) {
				continue
			}
			comp := w.tasks[w.compOf[other.plan.ID]]
			if comp == nil || !events.Terminal(comp.status) {
				w.t.Fatalf("compensation of %v starts before the compensation of its dependent %v finished", o.ref, other.ref)
			}
		}
		return
	}
	op := w.spec.Operations[task.ref.Op]
	for _, dep := range op.Dependencies {
		d := w.opIndex(dep)
		for k := range workflow.TaskCount(w.spec.Operations[d]) {
			if t := w.byRef[workflow.TaskRef{Op: d, Index: k}]; t == nil || t.status != events.StatusCompleted {
				w.t.Fatalf("task %v starts before %s[%d] completed", task.ref, dep, k)
			}
		}
	}
	if op.Type == events.OpTaskservBatch {
		for k := 0; k < task.ref.Index; k++ {
			if t := w.byRef[workflow.TaskRef{Op: task.ref.Op, Index: k}]; t == nil || t.status != events.StatusCompleted {
				w.t.Fatalf("taskserv %v starts before taskserv %d of its operation completed", task.ref, k)
			}
		}
	}
}

// dependsOn reports whether task a waited, directly or through its
// operation, for task b.
func (w *world) dependsOn(a, b workflow.TaskRef) bool {
	if a.Op == b.Op {
		return w.spec.Operations[a.Op].Type == events.OpTaskservBatch && a.Index > b.Index
	}
	return slices.Contains(w.spec.Operations[a.Op].Dependencies, w.spec.Operations[b.Op].ID)
}

func (w *world) checkRebuild() {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(w.b); err != nil {
		w.t.Fatalf("encode: %v", err)
	}
	var c workflow.Batch
	if err := gob.NewDecoder(&buf).Decode(&c); err != nil {
		w.t.Fatalf("decode: %v", err)
	}
	c.Rebuild()
	a, b := w.b.Next(), c.Next()
	// The ready queues hold the same tasks in different orders (history
	// versus operation order), so the tasks picked, and the operations
	// they start, may differ.
	starting := map[string]bool{}
	for _, p := range append(slices.Clone(a.Schedule), b.Schedule...) {
		starting[p.OperationID] = true
	}
	if !reflect.DeepEqual(settled(a.Reports, starting), settled(b.Reports, starting)) || a.Status != b.Status || len(a.Schedule) != len(b.Schedule) ||
		!reflect.DeepEqual(planIDs(a.Create), planIDs(b.Create)) || !reflect.DeepEqual(a.Cancel, b.Cancel) {
		w.t.Fatalf("rebuilt state decides differently:\nincremental %+v\nrebuilt     %+v", a, b)
	}
	if !reflect.DeepEqual(w.b.Ready(), c.Ready()) {
		w.t.Fatalf("ready: incremental %v, rebuilt %v", w.b.Ready(), c.Ready())
	}
	x1, y1, z1 := w.b.Counts()
	x2, y2, z2 := c.Counts()
	if x1 != x2 || y1 != y2 || z1 != z2 || w.b.Progress() != c.Progress() {
		w.t.Fatalf("counts differ after rebuild")
	}
}

func settled(rs []events.OperationStatusChangedData, starting map[string]bool) []events.OperationStatusChangedData {
	var out []events.OperationStatusChangedData
	for _, r := range rs {
		if !starting[r.OperationID] {
			out = append(out, r)
		}
	}
	return out
}

func planIDs(ps []workflow.TaskPlan) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func (w *world) checkEnd() {
	b := w.b
	if !b.Terminal() {
		w.t.Fatalf("batch ended the run %s", b.Status)
	}
	for _, task := range w.tasks {
		if !events.Terminal(task.status) {
			w.t.Fatalf("task %s still %s after the batch ended %s", task.plan.ID, task.status, b.Status)
		}
	}
	total, completed, _ := b.Counts()
	want := events.StatusCompleted
	switch {
	case completed == total:
	case w.cancelled:
		want = events.StatusCancelled
	case !w.spec.RollbackEnabled:
		want = events.StatusFailed
	case w.compFailures > 0:
		want = events.StatusFailed
	default:
		want = events.StatusRolledBack
	}
	if b.Status != want {
		w.t.Fatalf("batch ended %s, want %s (cancelled %v, failures %d, rollback %v)", b.Status, want, w.cancelled, w.failures, w.spec.RollbackEnabled)
	}
	for _, op := range b.Operations {
		switch op.Status {
		case events.StatusCompleted, events.StatusFailed, events.StatusSkipped, events.StatusCancelled, events.StatusRolledBack:
		default:
			w.t.Fatalf("operation %s ended %s", op.Spec.ID, op.Status)
		}
		c := op.Counts()
		if b.Status == events.StatusCompleted && op.Status != events.StatusCompleted {
			w.t.Fatalf("batch Completed with operation %s %s", op.Spec.ID, op.Status)
		}
		if b.Status == events.StatusRolledBack && c.Completed > 0 && op.Status != events.StatusRolledBack && op.Status != events.StatusFailed {
			w.t.Fatalf("batch RolledBack with operation %s %s", op.Spec.ID, op.Status)
		}
		if c.Scheduled == 0 && op.Status != events.StatusSkipped {
			w.t.Fatalf("operation %s never started but is %s", op.Spec.ID, op.Status)
		}
	}
	if b.Status == events.StatusRolledBack || b.RollbackStarted && !w.cancelled {
		want := slices.Clone(w.completions)
		slices.Reverse(want)
		if !reflect.DeepEqual(w.compSchedule, want) {
			w.t.Fatalf("compensations scheduled in order %v, want reverse completion order %v", w.compSchedule, want)
		}
	}
	if !b.Next().Empty() {
		w.t.Fatalf("a finished batch still decides: %+v", b.Next())
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestBatchRollbackWithoutCompletions: a batch whose first task fails
// with nothing completed is RolledBack at once: there is nothing to undo.
func TestBatchRollbackWithoutCompletions(t *testing.T) {
	spec := events.BatchCreatedData{BatchID: "B", Name: "b", ParallelLimit: 2, RollbackEnabled: true, Operations: []events.BatchOperation{
		{ID: "a", Type: events.OpServerBatch, Infra: "p", ServerConfigs: []map[string]string{{"name": "fail-1"}}, Dependencies: []string{}},
		{ID: "b", Type: events.OpTaskservBatch, Infra: "p", Taskservs: []string{"k8s"}, Dependencies: []string{"a"}},
	}}
	b := workflow.NewBatch(events.Envelope{Seq: 1}, spec)
	d := b.Next()
	if len(d.Schedule) != 1 || d.Schedule[0].OperationID != "a" || len(d.Reports) != 1 || d.Reports[0].Status != events.StatusRunning {
		t.Fatalf("first decision %+v", d)
	}
	evs, plans, _ := d.Events("B", func() string { return "T1" })
	seq := uint64(1)
	for _, e := range evs {
		seq++
		e.Seq = seq
		if err := b.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []events.Type{events.TaskCreated, events.TaskStatusChanged} {
		seq++
		var data any = plans[0].TaskCreated("cli", 1)
		if st == events.TaskStatusChanged {
			data = events.TaskStatusChangedData{TaskID: "T1", Status: events.StatusFailed, Error: "refused"}
		}
		e, _ := events.New(st, "T1", data)
		e.Seq = seq
		if err := b.ApplyTask(e); err != nil {
			t.Fatal(err)
		}
	}
	d = b.Next()
	if d.Status != events.StatusRolledBack || len(d.Reports) != 2 {
		t.Fatalf("decision after the failure %+v", d)
	}
	got := map[string]string{}
	for _, r := range d.Reports {
		got[r.OperationID] = r.Status
	}
	if got["a"] != events.StatusFailed || got["b"] != events.StatusSkipped {
		t.Fatalf("reports %v", got)
	}
}
