package workflow_test

import (
	"testing"

	"provisioning/events"
	"provisioning/workflow"
)

// A batch's task ignores a progress outside 0..100, as the task view and
// a rollback's step do.
func TestBatchTaskProgressBounded(t *testing.T) {
	spec := events.BatchCreatedData{BatchID: "B", Name: "b", ParallelLimit: 1, Operations: []events.BatchOperation{
		{ID: "a", Type: events.OpServerBatch, Infra: "p", ServerConfigs: []map[string]string{{"name": "s1"}}, Dependencies: []string{}},
	}}
	b := workflow.NewBatch(events.Envelope{Seq: 1}, spec)
	evs, plans, _ := b.Next().Events("B", func() string { return "T1" })
	if len(plans) != 1 {
		t.Fatalf("%d tasks scheduled, want 1", len(plans))
	}
	seq := uint64(1)
	for _, e := range evs {
		seq++
		e.Seq = seq
		if err := b.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	task := func(typ events.Type, data any) {
		t.Helper()
		seq++
		e, err := events.New(typ, "T1", data)
		if err != nil {
			t.Fatal(err)
		}
		e.Seq = seq
		if err := b.ApplyTask(e); err != nil {
			t.Fatal(err)
		}
	}
	task(events.TaskCreated, plans[0].TaskCreated("cli", 1))
	task(events.TaskStatusChanged, events.TaskStatusChangedData{TaskID: "T1", Status: events.StatusRunning, Attempt: 1})
	task(events.TaskProgress, events.TaskProgressData{TaskID: "T1", Attempt: 1, Progress: 40})
	for _, p := range []float64{150, -5} {
		task(events.TaskProgress, events.TaskProgressData{TaskID: "T1", Attempt: 1, Progress: p, Step: "s"})
		if got := b.Task("T1").Progress; got != 40 {
			t.Fatalf("after progress %v: task progress %v, want 40", p, got)
		}
		if got := b.Progress(); got != 40 {
			t.Fatalf("after progress %v: batch progress %v, want 40", p, got)
		}
	}
	if got := b.Task("T1").Step; got != "s" {
		t.Fatalf("step %q, want %q", got, "s")
	}
}
