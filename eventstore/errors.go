package eventstore

import "errors"

// Sentinel errors. Callers test them with errors.Is; the store wraps them
// with the aggregate and sequence involved.
var (
	// ErrConflict: an append named an expected last sequence and the
	// aggregate has moved on; re-read and decide again.
	ErrConflict = errors.New("conflict: the aggregate changed since it was read")
	// ErrNotFound: no event matches.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge: the event is larger than the server accepts.
	ErrTooLarge = errors.New("event larger than the NATS server's max payload")
	// ErrStorageFull: JetStream refused the write for lack of storage.
	ErrStorageFull = errors.New("event store is out of storage")
)
