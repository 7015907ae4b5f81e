package fanout

import (
	"encoding/json"
	"time"

	"provisioning/events"
	"provisioning/outward"
)

// Frame is one WebSocket text frame: the reference's
// {event_type, timestamp, data, metadata} plus seq, the event's sequence
// in the PROV_EVENTS stream (resume with since=seq+1).
type Frame struct {
	EventType events.Type     `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	Metadata  Metadata        `json:"metadata"`
	Seq       uint64          `json:"seq"`
}

// Metadata identifies the event a frame carries: the ids it is about
// (task_id, batch_id, operation_id and status, lower case, as in the
// reference's example), the event's own id and aggregate, and the
// correlation id shared by everything one request caused.
type Metadata struct {
	EventID       string           `json:"event_id"`
	Aggregate     events.Aggregate `json:"aggregate"`
	AggregateID   string           `json:"aggregate_id"`
	CorrelationID string           `json:"correlation_id,omitempty"`
	outward.IDs
}

// Event is a stored event ready to stream: its frame, rendered once for
// every subscriber, and what filters look at. It is immutable.
type Event struct {
	Seq   uint64
	Type  events.Type
	IDs   outward.IDs
	Frame []byte
}

// NewEvent renders env as a frame.
func NewEvent(env events.Envelope) (*Event, error) {
	data, ids := outward.Render(env)
	f := Frame{
		EventType: env.Type, Timestamp: env.Time, Data: data, Seq: env.Seq,
		Metadata: Metadata{EventID: env.ID, Aggregate: env.Aggregate, AggregateID: env.AggregateID,
			CorrelationID: env.CorrelationID, IDs: ids},
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return &Event{Seq: env.Seq, Type: env.Type, IDs: ids, Frame: b}, nil
}

// Filter selects the events a subscriber gets. The zero Filter selects
// everything.
type Filter struct {
	// Types, when not empty, lists the event types wanted.
	Types map[events.Type]bool
	// TaskID and BatchID, when set, keep the events about that task or
	// batch (by aggregate id or by the task_id / batch_id of their data).
	TaskID, BatchID string
}

// Match reports whether e passes the filter.
func (f Filter) Match(e *Event) bool {
	if len(f.Types) > 0 && !f.Types[e.Type] {
		return false
	}
	if f.TaskID != "" && e.IDs.TaskID != f.TaskID {
		return false
	}
	if f.BatchID != "" && e.IDs.BatchID != f.BatchID {
		return false
	}
	return true
}
