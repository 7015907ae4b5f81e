package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
)

// SchemaVersion is the version new events are written with. Readers fold
// every version up to it; see Upcast.
//
// Version 2: TaskCreated stores the CLI ("cli") instead of the CLI joined
// with the subcommand ("command").
const SchemaVersion = 2

// Envelope is one stored event. Everything but Seq is serialized as the
// message body, so the raw stream is self-describing and can be replayed
// without our code.
type Envelope struct {
	ID            string          `json:"id"`
	Type          Type            `json:"type"`
	Aggregate     Aggregate       `json:"aggregate"`
	AggregateID   string          `json:"aggregate_id"`
	Time          time.Time       `json:"time"`
	SchemaVersion int             `json:"schema_version"`
	Actor         string          `json:"actor,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Data          json.RawMessage `json:"data"`

	// Seq is the stream sequence the event was stored at. It is set when
	// the event is read or appended and is not part of the body.
	Seq uint64 `json:"-"`
}

// Subject is the subject the event is stored on.
func (e Envelope) Subject() string {
	return Subject(e.Aggregate, e.AggregateID, e.Type)
}

// Decode unmarshals the event's data into v.
func (e Envelope) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// New builds an event of type t about aggregate id with data marshalled
// from payload. ID and Time are filled in by the store when empty.
func New(t Type, aggregateID string, payload any) (Envelope, error) {
	agg, ok := aggregateOf[t]
	if !ok {
		return Envelope{}, fmt.Errorf("new event: unknown type %q", t)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("new event %s: %w", t, err)
	}
	return Envelope{Type: t, Aggregate: agg, AggregateID: aggregateID, SchemaVersion: SchemaVersion, Data: data}, nil
}

// Caused returns a copy of e that names cause as its causation and shares
// its correlation id (or starts one from cause's id).
func (e Envelope) Caused(cause Envelope) Envelope {
	e.CausationID = cause.ID
	e.CorrelationID = cause.CorrelationID
	if e.CorrelationID == "" {
		e.CorrelationID = cause.ID
	}
	return e
}

// Parse decodes a stored message body into an envelope at seq, upcasting
// older schema versions.
func Parse(body []byte, seq uint64) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, fmt.Errorf("parse event at seq %d: %w", seq, err)
	}
	e.Seq = seq
	return Upcast(e)
}

// NewID returns a new ULID string.
func NewID() string { return ulid.Make().String() }
