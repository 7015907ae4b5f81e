// Package events is the leaf of the project: the event envelope, the event
// types and their payloads, subject names, stream setup, the embedded NATS
// server, and the Store that appends to and reads from JetStream.
//
// Every event lives on the subject prov.events.<aggregate>.<id>.<Type> of
// the PROV_EVENTS stream (identity events on prov.iam.… in PROV_IAM).
// Appends to one aggregate may name the sequence they expect the
// aggregate's last event to have; JetStream then refuses a stale writer and
// the Store reports ErrConflict. Nothing in this package knows about HTTP.
package events
