package projections_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/projections"
	"provisioning/workflow"
)

// feed applies events to the views as a runner would, numbering them.
type feed struct {
	t     *testing.T
	seq   uint64
	clock time.Time
	views []projections.Projection
}

func (f *feed) apply(typ events.Type, id string, data any) events.Envelope {
	f.t.Helper()
	e, err := events.New(typ, id, data)
	if err != nil {
		f.t.Fatal(err)
	}
	f.seq++
	f.clock = f.clock.Add(10 * time.Second)
	e.ID, e.Seq, e.Time = events.NewID(), f.seq, f.clock
	for _, v := range f.views {
		if err := v.Apply(e); err != nil {
			f.t.Fatalf("%s: %v", typ, err)
		}
	}
	return e
}

// decide stores the batch's next decision and creates its tasks.
func (f *feed) decide(b *projections.Batches, id string) []workflow.TaskPlan {
	f.t.Helper()
	d, _, ok := b.Decide(id)
	if !ok {
		f.t.Fatalf("decide: unknown batch %s", id)
	}
	evs, plans, err := d.Events(id, events.NewID)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range evs {
		var data any
		if err := e.Decode(&data); err != nil {
			f.t.Fatalf("%s: %v", e.Type, err)
		}
		f.apply(e.Type, id, data)
	}
	for _, p := range plans {
		f.apply(events.TaskCreated, p.ID, p.TaskCreated("cli", 60))
	}
	return plans
}

func (f *feed) run(id string, status string) {
	f.apply(events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: events.StatusRunning, Attempt: 1})
	f.apply(events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: status, Attempt: 1})
}

// TestBatchesSnapshotRestore: a view restored from a snapshot shows and
// decides like the one that folded the events.
func TestBatchesSnapshotRestore(t *testing.T) {
	t.Parallel()
	tasks, batches := projections.NewTasks(), projections.NewBatches()
	f := &feed{t: t, clock: time.Unix(1700000000, 0).UTC(), views: []projections.Projection{tasks, batches}}
	spec := events.BatchCreatedData{BatchID: "B1", Name: "b", Infra: "prod", ParallelLimit: 2, Operations: []events.BatchOperation{
		{ID: "servers", Type: events.OpServerBatch, Infra: "prod", Dependencies: []string{}, ServerConfigs: []map[string]string{{"name": "a"}, {"name": "b"}}},
		{ID: "k8s", Type: events.OpTaskservBatch, Infra: "prod", Dependencies: []string{"servers"}, Taskservs: []string{"kubernetes", "cilium"}},
	}}
	f.apply(events.BatchCreated, "B1", spec)
	plans := f.decide(batches, "B1")
	if len(plans) != 2 {
		t.Fatalf("first decision schedules %d tasks, want both servers", len(plans))
	}
	f.run(plans[0].ID, events.StatusCompleted)
	f.apply(events.TaskStatusChanged, plans[1].ID, events.TaskStatusChangedData{TaskID: plans[1].ID, Status: events.StatusRunning, Attempt: 1})

	data, err := batches.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := projections.NewBatches()
	if err := restored.Restore(data); err != nil {
		t.Fatal(err)
	}
	a, ok := batches.Get("B1", tasks)
	if !ok {
		t.Fatal("B1 not in the view")
	}
	b, ok := restored.Get("B1", tasks)
	if !ok {
		t.Fatal("B1 not in the restored view")
	}
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ja) != string(jb) {
		t.Fatalf("restored view differs:\n%s\n%s", ja, jb)
	}
	d1, s1, ok := batches.Decide("B1")
	if !ok {
		t.Fatal("the view cannot decide B1")
	}
	d2, s2, ok := restored.Decide("B1")
	if !ok {
		t.Fatal("the restored view cannot decide B1")
	}
	if s1 != s2 || !reflect.DeepEqual(d1, d2) {
		t.Fatalf("restored view decides differently:\n%+v\n%+v", d1, d2)
	}
	if got := restored.BatchOf(events.Envelope{Aggregate: events.AggTask, AggregateID: plans[1].ID}); got != "B1" {
		t.Fatalf("restored view routes task events to %q", got)
	}
}

// TestBatchProgressEstimate: the remaining time of a batch comes from the
// observed durations: the critical path of what is left, here a running
// server then two taskservs in a row.
func TestBatchProgressEstimate(t *testing.T) {
	t.Parallel()
	tasks, batches := projections.NewTasks(), projections.NewBatches()
	f := &feed{t: t, clock: time.Unix(1700000000, 0).UTC(), views: []projections.Projection{tasks, batches}}
	spec := events.BatchCreatedData{BatchID: "B2", Name: "b", Infra: "prod", ParallelLimit: 5, Operations: []events.BatchOperation{
		{ID: "servers", Type: events.OpServerBatch, Infra: "prod", Dependencies: []string{}, ServerConfigs: []map[string]string{{"name": "a"}, {"name": "b"}}},
		{ID: "k8s", Type: events.OpTaskservBatch, Infra: "prod", Dependencies: []string{"servers"}, Taskservs: []string{"kubernetes", "cilium"}},
	}}
	f.apply(events.BatchCreated, "B2", spec)
	p, _ := batches.Progress("B2", tasks.Runs(), f.clock)
	if p.EstimatedTimeRemaining != nil || p.TotalSteps != 4 {
		t.Fatalf("before anything ran: %+v (nothing observed: no estimate)", p)
	}
	plans := f.decide(batches, "B2")
	f.run(plans[0].ID, events.StatusCompleted) // a server: 10 s observed
	f.apply(events.TaskStatusChanged, plans[1].ID, events.TaskStatusChangedData{TaskID: plans[1].ID, Status: events.StatusRunning, Attempt: 1})
	f.apply(events.TaskProgress, plans[1].ID, events.TaskProgressData{TaskID: plans[1].ID, Attempt: 1, Progress: 50, Step: "Waiting for boot"})
	runs := map[string]projections.Durations{"servers": {Count: 1, Total: 10 * time.Second}, "taskserv": {Count: 2, Total: 60 * time.Second}}
	p, _ = batches.Progress("B2", runs, f.clock)
	// The running server started 10 s ago: 0 s left; then 30 s + 30 s.
	if p.EstimatedTimeRemaining == nil || *p.EstimatedTimeRemaining != 60 || p.CompletedSteps != 1 || p.CurrentStep == nil || *p.CurrentStep != "servers: Waiting for boot" {
		t.Fatalf("progress %+v (remaining %v)", p, p.EstimatedTimeRemaining)
	}
}

// TestBatchDetailTakesOutputFromTasks: the detail of a batch shows each
// task's name, output and error as the task view has them.
func TestBatchDetailTakesOutputFromTasks(t *testing.T) {
	t.Parallel()
	tasks, batches := projections.NewTasks(), projections.NewBatches()
	f := &feed{t: t, clock: time.Unix(1700000000, 0).UTC(), views: []projections.Projection{tasks, batches}}
	spec := events.BatchCreatedData{BatchID: "B1", Name: "b", Infra: "prod", ParallelLimit: 2, Operations: []events.BatchOperation{
		{ID: "servers", Type: events.OpServerBatch, Infra: "prod", Dependencies: []string{}, ServerConfigs: []map[string]string{{"name": "a"}, {"name": "b"}}},
	}}
	f.apply(events.BatchCreated, "B1", spec)
	plans := f.decide(batches, "B1")
	if len(plans) != 2 {
		t.Fatalf("first decision schedules %d tasks, want 2", len(plans))
	}
	ends := []events.TaskStatusChangedData{
		{TaskID: plans[0].ID, Status: events.StatusCompleted, Attempt: 1, Output: "made a"},
		{TaskID: plans[1].ID, Status: events.StatusFailed, Attempt: 1, Error: "no b"},
	}
	for _, d := range ends {
		f.apply(events.TaskStatusChanged, d.TaskID, events.TaskStatusChangedData{TaskID: d.TaskID, Status: events.StatusRunning, Attempt: 1})
		f.apply(events.TaskStatusChanged, d.TaskID, d)
	}
	view, ok := batches.Get("B1", tasks)
	if !ok {
		t.Fatal("B1 not in the view")
	}
	results := view.Operations[0].Results.Tasks
	if len(results) != 2 {
		t.Fatalf("%d task results, want 2", len(results))
	}
	for i, r := range results {
		task, ok := tasks.Get(plans[i].ID)
		if !ok {
			t.Fatalf("task %s not in the task view", plans[i].ID)
		}
		if r.TaskID == nil || *r.TaskID != plans[i].ID || r.Name != task.Name {
			t.Fatalf("result %d: %+v, want task %s named %q", i, r, plans[i].ID, task.Name)
		}
	}
	if r := results[0]; r.Output == nil || *r.Output != "made a" || r.Error != nil {
		t.Fatalf("completed task: output %v, error %v", r.Output, r.Error)
	}
	if r := results[1]; r.Error == nil || *r.Error != "no b" || r.Output != nil {
		t.Fatalf("failed task: output %v, error %v", r.Output, r.Error)
	}
}
