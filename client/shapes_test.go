package client_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	"provisioning/client"
	"provisioning/workflow"
)

// TestTaskCoversTheServersView: every field the server's task view writes
// survives a round trip through client.Task, so the SDK's copy of the
// shape cannot drift from the server's without this test failing.
func TestTaskCoversTheServersView(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)
	s := "x"
	view := workflow.Task{ID: "t", Name: "n", Command: "c", Args: []string{"a"}, Dependencies: []string{"d"},
		Status: "Running", CreatedAt: now, StartedAt: &now, CompletedAt: &now, Output: &s, Error: &s,
		Workflow: "servers", Operation: "create", Progress: 40, CurrentStep: &s, TotalSteps: 8, CompletedSteps: 3,
		Attempts: 2, CancelRequested: true, TimeoutSeconds: 60, BatchID: "b", OperationID: "o", Compensates: "c"}
	want := keys(t, view)
	var task client.Task
	b, _ := json.Marshal(view)
	if err := json.Unmarshal(b, &task); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, task); !reflect.DeepEqual(got, want) {
		t.Errorf("client.Task fields %v\nserver view fields %v", got, want)
	}
}

func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
