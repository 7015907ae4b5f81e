package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/projections"
	"provisioning/workflow"
)

// batchStatuses are the values GET /batch/operations?status= accepts.
var batchStatuses = []string{events.StatusRunning, events.StatusCompleted, events.StatusFailed, events.StatusCancelled, events.StatusRolledBack}

// batchAccepted is the answer of POST /batch/execute.
type batchAccepted struct {
	BatchID    string             `json:"batch_id"`
	Status     string             `json:"status"`
	Operations []operationPending `json:"operations"`
}

type operationPending struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	Progress float64 `json:"progress"`
}

// executeBatch validates a batch and appends its BatchCreated; the
// coordinator takes it from there. The answer does not wait for any work.
func (o *Orchestrator) executeBatch(w http.ResponseWriter, r *http.Request) error {
	var req workflow.BatchRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	id := events.NewID()
	spec, err := req.Batch(id)
	if err != nil {
		return err
	}
	e, err := events.New(events.BatchCreated, id, spec)
	if err != nil {
		return err
	}
	stamp(r, &e)
	stored, err := o.Store.Append(r.Context(), e, append(idempotency(r), eventstore.ExpectLast(0))...)
	if err != nil {
		return err
	}
	// A repeated Idempotency-Key returns the first batch.
	if err := stored.Decode(&spec); err != nil {
		return err
	}
	ans := batchAccepted{BatchID: spec.BatchID, Status: events.StatusRunning, Operations: make([]operationPending, len(spec.Operations))}
	for i, op := range spec.Operations {
		ans.Operations[i] = operationPending{ID: op.ID, Status: events.StatusPending}
	}
	return writeJSON(w, http.StatusOK, ans)
}

func (o *Orchestrator) listBatches(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	f := projections.BatchFilter{Status: r.URL.Query().Get("status")}
	if f.Status != "" && !oneOf(f.Status, batchStatuses) {
		return errorf(http.StatusBadRequest, "status must be one of Running, Completed, Failed, Cancelled, RolledBack, not %q", f.Status)
	}
	batches, total := o.Batches.List(f, p.Offset, p.Limit)
	return writePage(w, r, p, total, batches)
}

func (o *Orchestrator) getBatch(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	b, ok := o.Batches.Get(id, o.Tasks)
	if !ok {
		return errorf(http.StatusNotFound, "batch operation %s not found", id)
	}
	return writeJSON(w, http.StatusOK, b)
}

// cancelBatch asks the coordinators to cancel a batch, then waits
// (bounded) until nothing of it runs any more. Cancelling a cancelled
// batch answers the same; cancelling one that finished otherwise is 409.
func (o *Orchestrator) cancelBatch(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	status, requested, ok := o.Batches.Status(id)
	if !ok {
		return errorf(http.StatusNotFound, "batch operation %s not found", id)
	}
	if status == events.StatusRunning && !requested {
		e, err := events.New(events.BatchCancelRequested, id, events.BatchCancelRequestedData{BatchID: id, Reason: "cancelled by " + Actor(r)})
		if err != nil {
			return err
		}
		stamp(r, &e)
		if _, err := o.Store.Append(r.Context(), e); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), o.batchCancelWait())
	defer cancel()
	stopped := func() bool { s, _, _ := o.Batches.Status(id); return s != events.StatusRunning }
	if err := o.View.WaitUntil(ctx, stopped); err != nil {
		return writeJSON(w, http.StatusAccepted, "Cancellation requested; the batch's tasks are still stopping")
	}
	if status, _, _ = o.Batches.Status(id); status != events.StatusCancelled {
		return errorf(http.StatusConflict, "batch operation %s finished as %s before it could be cancelled", id, status)
	}
	return writeJSON(w, http.StatusOK, "Operation cancelled")
}

func (o *Orchestrator) batchCancelWait() time.Duration {
	if o.CancelWait > 0 {
		return o.CancelWait
	}
	return 30 * time.Second
}
