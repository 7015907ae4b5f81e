package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/workflow"
)

// The submission bodies, as the handlers decode them.
type (
	serversRequest  = workflow.ServersRequest
	taskservRequest = workflow.TaskservRequest
	clusterRequest  = workflow.ClusterRequest
)

// specRequest is a body that validates into a task spec.
type specRequest interface {
	Spec() (events.TaskSpec, error)
}

// submit handles a workflow submission: decode, validate, append one
// TaskCreated (which is also the job), answer with the task id as soon as
// JetStream has acknowledged it.
func submit[T specRequest](o *Orchestrator) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req T
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
		spec, err := req.Spec()
		if err != nil {
			return err
		}
		id := events.NewID()
		e, err := events.New(events.TaskCreated, id, workflow.TaskCreated(id, spec, o.CLI, int(o.TaskTimeout.Seconds())))
		if err != nil {
			return err
		}
		stamp(r, &e)
		stored, err := o.Store.Append(r.Context(), e, idempotency(r)...)
		if err != nil {
			return err
		}
		noteResource(r, "tasks/"+stored.AggregateID)
		noteDetail(r, "workflow", spec.Workflow)
		return writeJSON(w, http.StatusOK, stored.AggregateID)
	}
}

// stamp records who asked and which request caused an event.
func stamp(r *http.Request, e *events.Envelope) {
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

// idempotency turns an Idempotency-Key header into the append's message
// id, scoped to the caller and the route, so a retried POST within the
// stream's duplicate window returns the first answer and creates nothing.
func idempotency(r *http.Request) []eventstore.AppendOption {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(Actor(r) + "\x00" + r.URL.Path + "\x00" + key))
	return []eventstore.AppendOption{eventstore.WithIdempotencyKey("idem-" + hex.EncodeToString(sum[:16]))}
}
