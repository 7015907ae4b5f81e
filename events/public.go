package events

import (
	"encoding/json"
	"strings"
	"unicode"
)

// Public is an event as the world outside sees it (WebSocket frames,
// webhook payloads): its data with status values in lower snake case
// ("completed", "rolled_back"), as the API reference's examples show,
// and the ids it concerns.
type Public struct {
	Data        json.RawMessage
	TaskID      string
	BatchID     string
	OperationID string
	Status      string
}

// PublicOf renders e for the outside. Data that is not a JSON object is
// passed through as it is.
func PublicOf(e Envelope) Public {
	var fields map[string]any
	if err := json.Unmarshal(e.Data, &fields); err != nil || fields == nil {
		return Public{Data: e.Data}
	}
	p := Public{}
	if s, ok := fields["status"].(string); ok {
		p.Status = SnakeCase(s)
		fields["status"] = p.Status
	}
	p.TaskID, _ = fields["task_id"].(string)
	p.BatchID, _ = fields["batch_id"].(string)
	p.OperationID, _ = fields["operation_id"].(string)
	switch e.Aggregate {
	case AggTask:
		p.TaskID = e.AggregateID
	case "batch":
		p.BatchID = e.AggregateID
	}
	data, err := json.Marshal(fields)
	if err != nil {
		data = e.Data
	}
	p.Data = data
	return p
}

// SnakeCase turns a PascalCase word into lower snake case: RolledBack
// becomes rolled_back, TaskCompleted task_completed.
func SnakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
