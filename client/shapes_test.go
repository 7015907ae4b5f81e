package client_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	"provisioning/client"
	"provisioning/webhooks"
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

// TestWebhookShapesCoverTheServers: the endpoint (with its secret, as
// created), the delivery and its attempts survive a round trip through
// the SDK's types.
func TestWebhookShapesCoverTheServers(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)
	code, msg := 500, "HTTP 500"
	created := webhooks.Created{Endpoint: webhooks.Endpoint{ID: "w", URL: "https://example.com", Events: []string{"*"}, Description: "d",
		Source: "api", Status: "disabled", CreatedAt: now, UpdatedAt: now, DisabledAt: &now, DisabledReason: "failing",
		ConsecutiveFailures: 3, FailingSince: &now, LastSuccessAt: &now}, Secret: "s"}
	attempt := webhooks.Attempt{Attempt: 1, At: now, Outcome: "retrying", StatusCode: &code, LatencyMS: 1.5, Error: &msg, NextRetryAt: &now}
	delivery := webhooks.Delivery{ID: "d", WebhookID: "w", Event: "task.completed", EventID: "e", EventSeq: 7, Status: "retrying",
		Attempt: 1, StatusCode: &code, LatencyMS: 1.5, Error: &msg, NextRetryAt: &now, CreatedAt: now, UpdatedAt: now,
		Attempts: []webhooks.Attempt{attempt}}
	for _, tc := range []struct {
		name         string
		server, into any
	}{
		{"webhook", created, &client.Webhook{}},
		{"delivery", delivery, &client.Delivery{}},
		{"attempt", attempt, &client.Attempt{}},
	} {
		b, _ := json.Marshal(tc.server)
		if err := json.Unmarshal(b, tc.into); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, want := keys(t, tc.into), keys(t, tc.server); !reflect.DeepEqual(got, want) {
			t.Errorf("client %s fields %v\nserver fields %v", tc.name, got, want)
		}
	}
}
