// Package eventstore keeps the events of package events in NATS JetStream:
// appending with optimistic concurrency and deduplication, reading and
// following streams, the history queries, stream setup, the embedded NATS
// server and the connections to it. It decides nothing about what events
// mean.
//
// Appends to one aggregate may name the sequence they expect the
// aggregate's last event to have; JetStream then refuses a stale writer and
// the Store reports ErrConflict. Nothing in this package knows about HTTP.
package eventstore
