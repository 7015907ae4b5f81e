package outward_test

import (
	"encoding/json"
	"testing"

	"provisioning/events"
	"provisioning/outward"
)

func TestName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ    events.Type
		status string
		want   string
	}{
		{events.TaskCreated, "", "task.created"},
		{events.TaskStatusChanged, "Running", "task.running"},
		{events.TaskStatusChanged, "Completed", "task.completed"},
		{events.TaskStatusChanged, "Cancelled", "task.cancelled"},
		{events.TaskProgress, "", "task.progress"},
		{events.TaskCancelRequested, "", "task.cancel_requested"},
		{"BatchStatusChanged", "RolledBack", "batch.rolled_back"},
		{"OperationStatusChanged", "Skipped", "operation.skipped"},
		{"CheckpointCreated", "", "checkpoint.created"},
		{"RollbackCompleted", "", "rollback.completed"},
	} {
		data, _ := json.Marshal(map[string]string{"status": tc.status})
		if got := outward.Name(events.Envelope{Type: tc.typ, Data: data}); got != tc.want {
			t.Errorf("%s{%s} = %s, want %s", tc.typ, tc.status, got, tc.want)
		}
	}
}

func TestMatchAndCheckPattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "task.completed", true},
		{"task.*", "task.completed", true},
		{"task.*", "taskserv.created", false},
		{"task.completed", "task.completed", true},
		{"task.completed", "task.failed", false},
	} {
		if outward.Match(tc.pattern, tc.name) != tc.want {
			t.Errorf("Match(%q, %q) != %v", tc.pattern, tc.name, tc.want)
		}
	}
	for p, ok := range map[string]bool{"*": true, "task.*": true, "batch.completed": true, "batch.rolled_back": true,
		"task.finished": false, "Task.Completed": false, "task": false, "nothing.*": false, "": false} {
		if err := outward.CheckPattern(p); (err == nil) != ok {
			t.Errorf("CheckPattern(%q) = %v", p, err)
		}
	}
}

func TestRenderLowersStatuses(t *testing.T) {
	t.Parallel()
	data := json.RawMessage(`{"task_id":"t1","status":"RolledBack","previous_status":"Running","output":"Completed","n":1}`)
	got, ids := outward.Render(events.Envelope{Type: events.TaskStatusChanged, Aggregate: events.AggTask, AggregateID: "t1", Data: data})
	var m map[string]any
	_ = json.Unmarshal(got, &m)
	if m["status"] != "rolled_back" || m["previous_status"] != "running" || m["output"] != "Completed" || m["n"] != 1.0 {
		t.Errorf("rendered %s", got)
	}
	if ids.TaskID != "t1" || ids.Status != "rolled_back" {
		t.Errorf("ids = %+v", ids)
	}
	if !outward.Internal(events.Envelope{Aggregate: events.AggWebhookDelivery}) || outward.Internal(events.Envelope{Aggregate: events.AggTask}) {
		t.Error("Internal")
	}
}
