package workflow_test

import (
	"testing"
	"time"

	"provisioning/events"
	"provisioning/workflow"
)

func envelope(t *testing.T, typ events.Type, id string, seq uint64, at time.Time, data any) events.Envelope {
	t.Helper()
	e, err := events.New(typ, id, data)
	if err != nil {
		t.Fatal(err)
	}
	e.Seq, e.Time, e.ID = seq, at, "E"+id
	return e
}

// TestRollbackRunsOneCompensationAtATime drives a rollback of three
// targets through its decisions: each compensation is created only once
// the previous one ended, a failure is counted and does not stop the
// rest, and the end is decided once all ended.
func TestRollbackRunsOneCompensationAtATime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	spec := events.TaskSpec{Workflow: workflow.Servers, Operation: workflow.OpDelete, Infra: "p"}
	started := events.RollbackStartedData{RollbackID: "R", CLI: "prov", TimeoutSeconds: 60, Targets: []events.RollbackTarget{
		{TaskID: "T3", CompensationID: "C3", Name: "create_servers", Spec: spec},
		{TaskID: "T2", CompensationID: "C2", Name: "create_servers", Spec: spec},
		{TaskID: "T1", CompensationID: "C1", Name: "create_servers", Spec: spec},
	}}
	r := workflow.NewRollback(envelope(t, events.RollbackStarted, "R", 10, t0, started), started)
	seq := uint64(10)
	step := func(comp, status string, at time.Duration) {
		t.Helper()
		i := r.StepOf(comp)
		if i < 0 {
			t.Fatalf("no step for %s", comp)
		}
		seq++
		var e events.Envelope
		if status == "" {
			e = envelope(t, events.TaskCreated, comp, seq, t0.Add(at), events.TaskCreatedData{TaskID: comp})
		} else {
			e = envelope(t, events.TaskStatusChanged, comp, seq, t0.Add(at), events.TaskStatusChangedData{TaskID: comp, Status: status, Attempt: 1})
		}
		if err := r.ApplyTask(i, e); err != nil {
			t.Fatalf("%s %s: %v", comp, e.Type, err)
		}
	}
	for i, comp := range []string{"C3", "C2", "C1"} {
		d := r.Next()
		if d.Create == nil || d.Create.TaskID != comp || d.Complete != nil {
			t.Fatalf("step %d: decision %+v, want the creation of %s", i, d, comp)
		}
		if d.Create.Compensates != started.Targets[i].TaskID || d.Create.Name != "rollback_delete_servers" || d.Create.CLI != "prov" {
			t.Fatalf("compensation %+v", d.Create)
		}
		if i > 0 && (len(d.Create.Dependencies) != 1 || d.Create.Dependencies[0] != started.Targets[i-1].CompensationID) {
			t.Fatalf("compensation %s depends on %v", comp, d.Create.Dependencies)
		}
		step(comp, "", time.Duration(i)*time.Second)
		if d := r.Next(); d.Create != nil || d.Complete != nil {
			t.Fatalf("decided %+v while %s is pending", d, comp)
		}
		step(comp, events.StatusRunning, time.Duration(i)*time.Second)
		end := events.StatusCompleted
		if comp == "C2" {
			end = events.StatusFailed
		}
		step(comp, end, time.Duration(i+1)*time.Second)
	}
	d := r.Next()
	if d.Create != nil || d.Complete == nil {
		t.Fatalf("decision %+v, want the end", d)
	}
	want := events.RollbackCompletedData{RollbackID: "R", Status: events.StatusFailed, Executed: 2, Failed: 1, DurationSeconds: 3, Success: false}
	if *d.Complete != want {
		t.Fatalf("end %+v, want %+v", *d.Complete, want)
	}
	if err := r.Apply(envelope(t, events.RollbackCompleted, "R", seq+1, t0.Add(3*time.Second), *d.Complete)); err != nil {
		t.Fatal(err)
	}
	if !r.Terminal() || r.Status != events.StatusFailed {
		t.Fatalf("status %s", r.Status)
	}
	if d := r.Next(); d.Create != nil || d.Complete != nil {
		t.Fatalf("a finished rollback decided %+v", d)
	}
}

func TestRollbackWithoutTargetsEndsAtOnce(t *testing.T) {
	t.Parallel()
	started := events.RollbackStartedData{RollbackID: "R"}
	r := workflow.NewRollback(envelope(t, events.RollbackStarted, "R", 1, time.Now(), started), started)
	d := r.Next()
	if d.Complete == nil || !d.Complete.Success || d.Complete.Status != events.StatusCompleted {
		t.Fatalf("decision %+v", d)
	}
}

func TestRecoveryRequests(t *testing.T) {
	t.Parallel()
	long := make([]string, workflow.MaxOperationIDs+1)
	for i := range long {
		long[i] = "x"
	}
	tests := []struct {
		name string
		err  error
	}{
		{"checkpoint ok", workflow.CheckpointRequest{Name: "before_major_update", Description: "Checkpoint before deploying v2.0.0\nsecond line"}.Validate()},
		{"rollback by checkpoint", workflow.RollbackRequest{CheckpointID: "01ABC"}.Validate()},
		{"rollback by ids", workflow.RollbackRequest{OperationIDs: []string{"01ABC", "batch/op"}}.Validate()},
	}
	for _, tc := range tests {
		if tc.err != nil {
			t.Errorf("%s: %v", tc.name, tc.err)
		}
	}
	bad := []struct {
		name string
		err  error
	}{
		{"no name", workflow.CheckpointRequest{}.Validate()},
		{"flag-like name", workflow.CheckpointRequest{Name: "-x"}.Validate()},
		{"control characters", workflow.CheckpointRequest{Name: "a", Description: "bell\a"}.Validate()},
		{"neither", workflow.RollbackRequest{}.Validate()},
		{"both", workflow.RollbackRequest{CheckpointID: "a", OperationIDs: []string{"b"}}.Validate()},
		{"empty list", workflow.RollbackRequest{OperationIDs: []string{}}.Validate()},
		{"empty id", workflow.RollbackRequest{OperationIDs: []string{""}}.Validate()},
		{"wildcard", workflow.RollbackRequest{OperationIDs: []string{"a.*"}}.Validate()},
		{"too many", workflow.RollbackRequest{OperationIDs: long}.Validate()},
		{"repeated", workflow.RollbackRequest{OperationIDs: []string{"a", "a"}}.Validate()},
	}
	for _, tc := range bad {
		if tc.err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
