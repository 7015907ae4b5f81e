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

// taskStatuses are the values GET /tasks?status= accepts.
var taskStatuses = []string{events.StatusPending, events.StatusRunning, events.StatusCompleted, events.StatusFailed, events.StatusCancelled}

func (o *Orchestrator) listTasks(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	f := projections.TaskFilter{Status: r.URL.Query().Get("status"), BatchID: r.URL.Query().Get("batch_id")}
	if f.Status != "" && !oneOf(f.Status, taskStatuses) {
		return errorf(http.StatusBadRequest, "status must be one of Pending, Running, Completed, Failed, Cancelled, not %q", f.Status)
	}
	tasks, total := o.Tasks.List(f, p.Offset, p.Limit)
	return writePage(w, r, p, total, tasks)
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func (o *Orchestrator) getTask(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	task, ok := o.Tasks.Get(id)
	if !ok {
		return errorf(http.StatusNotFound, "task %s not found", id)
	}
	return writeJSON(w, http.StatusOK, task)
}

// cancelTask cancels a pending task at once, or asks the executor of a
// running one to kill it, then waits (bounded) until the task has stopped.
func (o *Orchestrator) cancelTask(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if !events.ValidID(id) {
		return errorf(http.StatusNotFound, "task %s not found", id)
	}
	if err := o.requestCancel(r, id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), o.cancelWait())
	defer cancel()
	stopped := func() bool { t, ok := o.Tasks.Get(id); return ok && t.Terminal() }
	if err := o.View.WaitUntil(ctx, stopped); err != nil {
		return writeJSON(w, http.StatusAccepted, "Task cancellation requested; the task is still stopping")
	}
	task, _ := o.Tasks.Get(id)
	if task.Status != events.StatusCancelled {
		return errorf(http.StatusConflict, "task %s finished as %s before it could be cancelled", id, task.Status)
	}
	return writeJSON(w, http.StatusOK, "Task cancelled")
}

func (o *Orchestrator) requestCancel(r *http.Request, id string) error {
	_, err := o.Store.Decide(r.Context(), eventstore.FenceOf(events.AggTask, id), func(last events.Envelope, exists bool) (*events.Envelope, error) {
		if !exists {
			return nil, errorf(http.StatusNotFound, "task %s not found", id)
		}
		head, err := workflow.HeadOf(last)
		if err != nil {
			return nil, err
		}
		e, err := workflow.CancelEvent(id, head, "cancelled by "+Actor(r))
		if err != nil || e == nil {
			return nil, err
		}
		stamp(r, e)
		return e, nil
	})
	return err
}

func (o *Orchestrator) cancelWait() time.Duration {
	if o.CancelWait > 0 {
		return o.CancelWait
	}
	return 15 * time.Second
}
