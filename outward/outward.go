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
	"maps"
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

// Event is a stored event as outside subscribers see it. Its data is
// decoded once, for its name, its ids and its statuses.
type Event struct {
	// Name is the dotted lower-case name webhooks subscribe to.
	Name string
	IDs  IDs
	raw  json.RawMessage
	// fields is the data as an object; nil when it is not one.
	fields map[string]json.RawMessage
}

// Parse reads env for the outside. It never fails: unreadable data is
// shown as stored.
func Parse(env events.Envelope) Event {
	ev := Event{raw: env.Data}
	if json.Unmarshal(env.Data, &ev.fields) != nil {
		ev.fields = nil
	}
	status := ev.str("status")
	ev.IDs = IDs{TaskID: ev.str("task_id"), BatchID: ev.str("batch_id"), OperationID: ev.str("operation_id"), Status: Status(status)}
	switch env.Aggregate {
	case events.AggTask:
		if ev.IDs.TaskID == "" {
			ev.IDs.TaskID = env.AggregateID
		}
	case events.AggBatch:
		if ev.IDs.BatchID == "" {
			ev.IDs.BatchID = env.AggregateID
		}
	}
	noun, rest := split(env.Type)
	if rest == statusChanged && status != "" {
		rest = status
	}
	ev.Name = noun + "." + snake(rest)
	return ev
}

// str is the string field key of the data, "" when absent or not a
// string.
func (e Event) str(key string) string {
	var s string
	if v, ok := e.fields[key]; ok && json.Unmarshal(v, &s) == nil {
		return s
	}
	return ""
}

// Data is the event's data as shown outside: status fields in snake
// lower case; data that is not an object is passed through.
func (e Event) Data() json.RawMessage {
	var out map[string]json.RawMessage
	for k, v := range e.fields {
		if k != "status" && !strings.HasSuffix(k, "_status") {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			continue
		}
		lowered, err := json.Marshal(snake(s))
		if err != nil {
			continue
		}
		if out == nil {
			out = maps.Clone(e.fields)
		}
		out[k] = lowered
	}
	if out == nil {
		return e.raw
	}
	data, err := json.Marshal(out)
	if err != nil {
		return e.raw
	}
	return data
}

// Render returns env's data as shown outside and the ids it names.
func Render(env events.Envelope) (json.RawMessage, IDs) {
	ev := Parse(env)
	return ev.Data(), ev.IDs
}

// Status renders a PascalCase status in snake lower case.
func Status(s string) string { return snake(s) }

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
