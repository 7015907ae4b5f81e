package orchestrator

import (
	"net/http"

	"provisioning/events"
	"provisioning/handlers"
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
	Spec(workflow.Rules) (events.TaskSpec, error)
}

// submit handles a workflow submission: decode, validate, append one
// TaskCreated (which is also the job), answer with the task id as soon as
// JetStream has acknowledged it.
func submit[T specRequest](o *API) handlers.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req T
		if err := handlers.DecodeJSON(r, &req); err != nil {
			return err
		}
		spec, err := req.Spec(o.Rules)
		if err != nil {
			return err
		}
		id := events.NewID()
		e, err := events.New(events.TaskCreated, id, workflow.TaskCreated(id, spec, o.CLI, int(o.TaskTimeout.Seconds())))
		if err != nil {
			return err
		}
		handlers.Stamp(r, &e)
		stored, err := o.Store.Append(r.Context(), e, handlers.Idempotent(r)...)
		if err != nil {
			return err
		}
		handlers.NoteResource(r, "tasks/"+stored.AggregateID)
		handlers.NoteDetail(r, "workflow", spec.Workflow)
		return handlers.WriteJSON(w, http.StatusOK, stored.AggregateID)
	}
}
