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

// TaskStatuses are the values GET /tasks?status= accepts.
var TaskStatuses = []string{events.StatusPending, events.StatusRunning, events.StatusCompleted, events.StatusFailed, events.StatusCancelled}

func (o *API) listTasks(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	f := projections.TaskFilter{Status: r.URL.Query().Get("status"), BatchID: r.URL.Query().Get("batch_id")}
	if f.Status != "" && !slices.Contains(TaskStatuses, f.Status) {
		return handlers.Errorf(http.StatusBadRequest, "status must be one of Pending, Running, Completed, Failed, Cancelled, not %q", f.Status)
	}
	tasks, total := o.Tasks.List(f, p.Offset, p.Limit)
	return handlers.WritePage(w, r, p, total, tasks)
}

func (o *API) getTask(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	task, ok := o.Tasks.Get(id)
	if !ok {
		return handlers.Errorf(http.StatusNotFound, "task %s not found", id)
	}
	return handlers.WriteJSON(w, http.StatusOK, task)
}

// cancelTask cancels a pending task at once, or asks the executor of a
// running one to kill it, then waits (bounded) until the task has stopped.
func (o *API) cancelTask(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if !events.ValidID(id) {
		return handlers.Errorf(http.StatusNotFound, "task %s not found", id)
	}
	if err := o.requestCancel(r, id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), o.cancelWait())
	defer cancel()
	stopped := func() bool { t, ok := o.Tasks.Get(id); return ok && t.Terminal() }
	if err := o.View.WaitUntil(ctx, stopped); err != nil {
		return handlers.WriteJSON(w, http.StatusAccepted, "Task cancellation requested; the task is still stopping")
	}
	task, _ := o.Tasks.Get(id)
	if task.Status != events.StatusCancelled {
		return handlers.Errorf(http.StatusConflict, "task %s finished as %s before it could be cancelled", id, task.Status)
	}
	return handlers.WriteJSON(w, http.StatusOK, "Task cancelled")
}

func (o *API) requestCancel(r *http.Request, id string) error {
	_, err := o.Store.Decide(r.Context(), eventstore.FenceOf(events.AggTask, id), func(last events.Envelope, exists bool) (*events.Envelope, error) {
		if !exists {
			return nil, handlers.Errorf(http.StatusNotFound, "task %s not found", id)
		}
		head, err := workflow.HeadOf(last)
		if err != nil {
			return nil, err
		}
		e, err := workflow.CancelEvent(id, head, "cancelled by "+handlers.Actor(r))
		if err != nil || e == nil {
			return nil, err
		}
		handlers.Stamp(r, e)
		return e, nil
	})
	return err
}

func (o *API) cancelWait() time.Duration {
	if o.CancelWait > 0 {
		return o.CancelWait
	}
	return 15 * time.Second
}
