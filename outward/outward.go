// Package outward renders stored events the way subscribers outside the
// process see them: WebSocket frames and webhook payloads. It owns three
// decisions, documented in docs/websocket.md and docs/webhooks.md:
//
//   - which events never leave (Internal: webhook bookkeeping, whose
//     registry events carry secrets);
//   - the shape of their data: the stored payload with its top-level
//     status fields in snake lower case ("Completed" -> "completed",
//     "RolledBack" -> "rolled_back"), as in the reference's examples,
//     while the REST views keep "Completed";
//   - their dotted lower-case names for webhooks (Name, Match).
package outward

import (
	"encoding/json"
	"strings"
	"unicode"

	"provisioning/events"
)

// Internal reports whether env is bookkeeping that is neither streamed
// nor delivered: the webhook registry (it carries secrets) and delivery
// records (delivering them would loop).
func Internal(env events.Envelope) bool {
	return env.Aggregate == events.AggWebhook || env.Aggregate == events.AggWebhookDelivery
}

// InternalType is Internal for a type.
func InternalType(t events.Type) bool {
	agg, _ := events.AggregateOf(t)
	return agg == events.AggWebhook || agg == events.AggWebhookDelivery
}

// IDs are the identifiers an event is about, taken from its data (and its
// aggregate id for task and batch aggregates).
type IDs struct {
	TaskID      string `json:"task_id,omitempty"`
	BatchID     string `json:"batch_id,omitempty"`
	OperationID string `json:"operation_id,omitempty"`
	Status      string `json:"status,omitempty"`
}

// Render returns env's data as shown outside (status fields in snake
// lower case; data that is not an object is passed through) and the ids
// it names. It never fails: unreadable data is shown as stored.
func Render(env events.Envelope) (json.RawMessage, IDs) {
	var ids IDs
	_ = json.Unmarshal(env.Data, &ids)
	switch env.Aggregate {
	case events.AggTask:
		if ids.TaskID == "" {
			ids.TaskID = env.AggregateID
		}
	case "batch":
		if ids.BatchID == "" {
			ids.BatchID = env.AggregateID
		}
	}
	ids.Status = Status(ids.Status)
	return lowerStatuses(env.Data), ids
}

// Status renders a PascalCase status in snake lower case.
func Status(s string) string { return snake(s) }

func lowerStatuses(data json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil || fields == nil {
		return data
	}
	changed := false
	for k, v := range fields {
		if k != "status" && !strings.HasSuffix(k, "_status") {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			continue
		}
		if out, err := json.Marshal(snake(s)); err == nil {
			fields[k] = out
			changed = true
		}
	}
	if !changed {
		return data
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return data
	}
	return out
}

// words splits a PascalCase identifier: "TaskStatusChanged" -> Task,
// Status, Changed.
func words(s string) []string {
	var out []string
	start := 0
	for i, r := range s {
		if i > start && unicode.IsUpper(r) {
			out = append(out, s[start:i])
			start = i
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// snake turns PascalCase into snake lower case: "RolledBack" ->
// "rolled_back". Lower-case input is returned as is.
func snake(s string) string {
	w := words(s)
	for i := range w {
		w[i] = strings.ToLower(w[i])
	}
	return strings.Join(w, "_")
}
