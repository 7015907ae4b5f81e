// Package events is the wire vocabulary of the project: the event envelope,
// the event types and their payloads, statuses, and the subjects and
// streams events live on. It imports only the standard library and ulid, so
// the Go client and the command line can share it with the server; storing
// and reading events is package eventstore's job.
//
// Every event lives on the subject prov.events.<aggregate>.<id>.<Type> of
// the PROV_EVENTS stream (identity events on prov.iam.… in PROV_IAM, audit
// records on prov.audit.… in PROV_AUDIT).
package events
