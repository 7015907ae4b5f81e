package orchestrator

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/handlers"
	"provisioning/projections"
	"provisioning/workflow"
)

// BatchStatuses are the values GET /batch/operations?status= accepts.
var BatchStatuses = []string{events.StatusRunning, events.StatusCompleted, events.StatusFailed, events.StatusCancelled, events.StatusRolledBack}

// BatchAccepted is the answer of POST /batch/execute.
type BatchAccepted struct {
	BatchID    string             `json:"batch_id"`
	Status     string             `json:"status"`
	Operations []OperationPending `json:"operations"`
}

type OperationPending struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	Progress float64 `json:"progress"`
}

// executeBatch validates a batch and appends its BatchCreated; the
// coordinator takes it from there. The answer does not wait for any work.
func (o *API) executeBatch(w http.ResponseWriter, r *http.Request) error {
	var req workflow.BatchRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	id := events.NewID()
	spec, err := req.Batch(id, o.Rules)
	if err != nil {
		return err
	}
	e, err := events.New(events.BatchCreated, id, spec)
	if err != nil {
		return err
	}
	handlers.Stamp(r, &e)
	stored, err := o.Store.Append(r.Context(), e, append(handlers.Idempotent(r), eventstore.ExpectLast(0))...)
	if err != nil {
		return err
	}
	// A repeated Idempotency-Key returns the first batch.
	if err := stored.Decode(&spec); err != nil {
		return err
	}
	ans := BatchAccepted{BatchID: spec.BatchID, Status: events.StatusRunning, Operations: make([]OperationPending, len(spec.Operations))}
	for i, op := range spec.Operations {
		ans.Operations[i] = OperationPending{ID: op.ID, Status: events.StatusPending}
	}
	return handlers.WriteJSON(w, http.StatusOK, ans)
}

func (o *API) listBatches(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	f := projections.BatchFilter{Status: r.URL.Query().Get("status")}
	if f.Status != "" && !slices.Contains(BatchStatuses, f.Status) {
		return handlers.Errorf(http.StatusBadRequest, "status must be one of Running, Completed, Failed, Cancelled, RolledBack, not %q", f.Status)
	}
	batches, total := o.Batches.List(f, p.Offset, p.Limit)
	return handlers.WritePage(w, r, p, total, batches)
}

func (o *API) getBatch(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	b, ok := o.Batches.Get(id, o.Tasks)
	if !ok {
		return handlers.Errorf(http.StatusNotFound, "batch operation %s not found", id)
	}
	return handlers.WriteJSON(w, http.StatusOK, b)
}

// cancelBatch asks the coordinators to cancel a batch, then waits
// (bounded) until nothing of it runs any more. Cancelling a cancelled
// batch answers the same; cancelling one that finished otherwise is 409.
func (o *API) cancelBatch(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	status, requested, ok := o.Batches.Status(id)
	if !ok {
		return handlers.Errorf(http.StatusNotFound, "batch operation %s not found", id)
	}
	if status == events.StatusRunning && !requested {
		e, err := events.New(events.BatchCancelRequested, id, events.BatchCancelRequestedData{BatchID: id, Reason: "cancelled by " + handlers.Actor(r)})
		if err != nil {
			return err
		}
		handlers.Stamp(r, &e)
		if _, err := o.Store.Append(r.Context(), e); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), o.batchCancelWait())
	defer cancel()
	stopped := func() bool { s, _, _ := o.Batches.Status(id); return s != events.StatusRunning }
	if err := o.View.WaitUntil(ctx, stopped); err != nil {
		return handlers.WriteJSON(w, http.StatusAccepted, "Cancellation requested; the batch's tasks are still stopping")
	}
	if status, _, _ = o.Batches.Status(id); status != events.StatusCancelled {
		return handlers.Errorf(http.StatusConflict, "batch operation %s finished as %s before it could be cancelled", id, status)
	}
	return handlers.WriteJSON(w, http.StatusOK, "Operation cancelled")
}

func (o *API) batchCancelWait() time.Duration {
	if o.CancelWait > 0 {
		return o.CancelWait
	}
	return 30 * time.Second
}
