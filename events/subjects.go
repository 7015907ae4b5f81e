package events

import (
	"slices"
	"strings"
)

// Stream describes one JetStream stream of ours.
type Stream struct {
	Name   string
	Prefix string // subjects are Prefix.<aggregate>.<id>.<Type>
}

// The streams. Work is not a stream of its own: executors consume
// TaskCreated events straight from Events through a durable work-queue
// consumer, so creating a task and enqueuing its job is one atomic append.
var (
	EventsStream = Stream{Name: "PROV_EVENTS", Prefix: "prov.events"}
	IAMStream    = Stream{Name: "PROV_IAM", Prefix: "prov.iam"}
	AuditStream  = Stream{Name: "PROV_AUDIT", Prefix: "prov.audit"}
	// DeliveriesStream holds webhook delivery attempts and retry
	// requests, kept for a retention (--delivery-retention).
	DeliveriesStream = Stream{Name: "PROV_DELIVERIES", Prefix: "prov.deliveries"}
)

// Streams lists every stream Setup creates.
var Streams = []Stream{EventsStream, IAMStream, AuditStream, DeliveriesStream}

// aggregateStream places aggregates outside the events stream.
var aggregateStream = map[Aggregate]Stream{}

// StreamOf reports the stream an aggregate's events are stored in.
func StreamOf(agg Aggregate) Stream {
	if s, ok := aggregateStream[agg]; ok {
		return s
	}
	return EventsStream
}

// StreamOfSubject reports the stream whose subjects include subject.
func StreamOfSubject(subject string) (Stream, bool) {
	for _, st := range Streams {
		if strings.HasPrefix(subject, st.Prefix+".") {
			return st, true
		}
	}
	return Stream{}, false
}

// Subject is the subject of an event of type t about aggregate id.
func Subject(agg Aggregate, id string, t Type) string {
	return StreamOf(agg).Prefix + "." + string(agg) + "." + id + "." + string(t)
}

// AggregateSubject matches every event of one aggregate instance.
func AggregateSubject(agg Aggregate, id string) string {
	return StreamOf(agg).Prefix + "." + string(agg) + "." + id + ".>"
}

// TypeSubject matches every event of one type, whatever the instance.
func TypeSubject(t Type) string {
	agg := aggregateOf[t]
	return StreamOf(agg).Prefix + "." + string(agg) + ".*." + string(t)
}

// ValidID reports whether id can be one token of a subject: non-empty,
// at most 128 bytes, and without the characters NATS gives a meaning to.
func ValidID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	return !strings.ContainsAny(id, ".*> \t\r\n")
}

// AggregatesIn lists the aggregates whose events stream st holds, sorted.
func AggregatesIn(st Stream) []Aggregate {
	seen := map[Aggregate]bool{}
	var out []Aggregate
	for _, agg := range aggregateOf {
		if !seen[agg] && StreamOf(agg) == st {
			seen[agg] = true
			out = append(out, agg)
		}
	}
	slices.Sort(out)
	return out
}

// TypesIn lists the event types stream st holds, sorted.
func TypesIn(st Stream) []Type {
	var out []Type
	for t, agg := range aggregateOf {
		if StreamOf(agg) == st {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
