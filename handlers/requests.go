package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"provisioning/events"
	"provisioning/eventstore"
)

// Consistency lets a handler wait for the views to include a write.
// *projections.Runner satisfies it.
type Consistency interface {
	WaitFor(ctx context.Context, seq uint64) error
	WaitForLatest(ctx context.Context) error
	WaitUntil(ctx context.Context, cond func() bool) error
}

// Stamp records who asked and which request caused an event.
func Stamp(r *http.Request, e *events.Envelope) {
	e.Actor = Actor(r)
	e.CorrelationID = RequestID(r.Context())
}

// Actor names the authenticated caller of r ("user:<id>"), or
// "anonymous" on open routes.
func Actor(r *http.Request) string {
	if p, ok := PrincipalFrom(r.Context()); ok {
		return p.Identity()
	}
	return "anonymous"
}

// Idempotent turns an Idempotency-Key header into the append's message
// id, scoped to the caller and the route, so a retried POST within the
// stream's duplicate window returns the first answer and creates nothing.
func Idempotent(r *http.Request) []eventstore.AppendOption {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(Actor(r) + "\x00" + r.URL.Path + "\x00" + key))
	return []eventstore.AppendOption{eventstore.WithIdempotencyKey("idem-" + hex.EncodeToString(sum[:16]))}
}
