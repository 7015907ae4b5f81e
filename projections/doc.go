// Package projections builds the read side: views folded from the event
// streams (tasks, batches, rollbacks, checkpoints, audit records, and the
// users, policies and signing keys of package auth), their snapshots for a
// fast restart, and "wait until the view has seen sequence N" so a read
// that follows a write sees it.
//
// A Runner owns one stream: it restores each projection from its last
// snapshot, replays the rest of the stream, follows it live, and snapshots
// periodically. Projections are deterministic folds; they publish nothing.
package projections
