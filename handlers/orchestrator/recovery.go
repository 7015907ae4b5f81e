package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/handlers"
	"provisioning/projections"
	"provisioning/workflow"
)

// Recovery is what the rollback and recovery routes need besides the
// orchestrator's task and batch views.
type Recovery struct {
	Checkpoints  *projections.Checkpoints
	Rollbacks    *projections.Rollbacks
	Checkpointer *projections.Checkpointer
	// RollbackWait is how long POST /rollback/execute waits for the
	// rollback to finish when the request names no wait (default 30 s);
	// RestoreWait bounds the wait for the views to be set back (default
	// 60 s).
	RollbackWait, RestoreWait time.Duration
}

// MaxRollbackWait bounds the wait= of POST /rollback/execute.
const MaxRollbackWait = 300 * time.Second

// CheckpointSummary is a checkpoint in GET /rollback/checkpoints;
// CheckpointDetail adds the operations count.
type CheckpointSummary struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	Size        string    `json:"size"`
	Seq         uint64    `json:"seq"`
}

type CheckpointDetail struct {
	CheckpointSummary
	OperationsCount int `json:"operations_count"`
}

func summary(c projections.Checkpoint) CheckpointSummary {
	return CheckpointSummary{ID: c.ID, Name: c.Name, Description: c.Description, CreatedAt: c.CreatedAt, Size: sizeText(c.SizeBytes), Seq: c.Seq}
}

// createCheckpoint captures every view between two events, stores them
// in the checkpoint object store and records CheckpointCreated.
func (o *API) createCheckpoint(w http.ResponseWriter, r *http.Request) error {
	var req workflow.CheckpointRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	id := events.NewID()
	c, err := o.Recovery.Checkpointer.Capture(r.Context(), id)
	if err != nil {
		return err
	}
	e, err := events.New(events.CheckpointCreated, id, events.CheckpointCreatedData{
		CheckpointID: id, Name: req.Name, Description: req.Description, Seq: c.Seq, SizeBytes: c.SizeBytes,
		OperationsCount: c.OperationsCount, Object: c.Object, SHA256: c.SHA256, Views: c.Views})
	if err != nil {
		return err
	}
	handlers.Stamp(r, &e)
	stored, err := o.Store.Append(r.Context(), e, append(handlers.Idempotent(r), eventstore.ExpectLast(0))...)
	if err != nil || stored.AggregateID != id {
		// Not recorded, or a repeated Idempotency-Key found the first
		// checkpoint: this capture is nobody's.
		_ = o.Recovery.Checkpointer.Discard(context.WithoutCancel(r.Context()), id)
	}
	if err != nil {
		return err
	}
	if err := o.waitFor(r, stored.Seq); err != nil {
		return err
	}
	handlers.NoteResource(r, "checkpoints/"+stored.AggregateID)
	return handlers.WriteJSON(w, http.StatusCreated, stored.AggregateID)
}

func (o *API) waitFor(r *http.Request, seq uint64) error {
	ctx, cancel := context.WithTimeout(r.Context(), handlers.ReadWait(o.ReadWait))
	defer cancel()
	return o.View.WaitFor(ctx, seq)
}

func (o *API) listCheckpoints(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	cps, total := o.Recovery.Checkpoints.List(p.Offset, p.Limit)
	out := make([]CheckpointSummary, len(cps))
	for i, c := range cps {
		out[i] = summary(c)
	}
	return handlers.WritePage(w, r, p, total, out)
}

// checkpoint is the checkpoint the route's {id} names; 404 when there is
// none.
func (o *API) checkpoint(r *http.Request) (projections.Checkpoint, error) {
	id := chi.URLParam(r, "id")
	c, ok := o.Recovery.Checkpoints.Get(id)
	if !ok {
		return projections.Checkpoint{}, handlers.Errorf(http.StatusNotFound, "checkpoint %s not found", id)
	}
	return c, nil
}

func (o *API) getCheckpoint(w http.ResponseWriter, r *http.Request) error {
	c, err := o.checkpoint(r)
	if err != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusOK, CheckpointDetail{CheckpointSummary: summary(c), OperationsCount: c.OperationsCount})
}

// executeRollback resolves the request into the tasks to compensate,
// records RollbackStarted (the rollback coordinators take it from there)
// and waits, bounded by ?wait= seconds, for the rollback to end: 200 with
// its result, or 202 with the result so far and status Running.
func (o *API) executeRollback(w http.ResponseWriter, r *http.Request) error {
	var req workflow.RollbackRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	wait, err := o.rollbackWait(r)
	if err != nil {
		return err
	}
	id, err := o.startRollback(r, req)
	if err != nil {
		return err
	}
	handlers.NoteResource(r, "rollbacks/"+id)
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	done := func() bool { t, _ := o.Recovery.Rollbacks.Terminal(id); return t }
	status := http.StatusOK
	if err := o.View.WaitUntil(ctx, done); err != nil {
		status = http.StatusAccepted
	}
	res, _ := o.Recovery.Rollbacks.Result(id, time.Now())
	handlers.NoteDetail(r, "operations_total", res.OperationsTotal)
	return handlers.WriteJSON(w, status, res)
}

// startRollback records the rollback and returns its id. The targets are
// decided from the views, which hold every write before the request and
// the last RollbackStarted, which the append expects: a rollback started
// meanwhile (whose targets these views do not exclude yet) makes it
// decide again once the views hold it.
func (o *API) startRollback(r *http.Request, req workflow.RollbackRequest) (string, error) {
	fence := eventstore.Fence{Subject: events.TypeSubject(events.RollbackStarted)}
	view := eventstore.Bounded(o.View, handlers.ReadWait(o.ReadWait))
	stored, err := o.Store.DecideFolded(r.Context(), fence, view, func(events.Envelope, bool) (*events.Envelope, error) {
		return o.rollbackStarted(r, req)
	}, handlers.Idempotent(r)...)
	if errors.Is(err, eventstore.ErrConflict) {
		return "", handlers.Errorf(http.StatusConflict, "other rollbacks kept starting meanwhile; retry")
	}
	if err != nil {
		return "", err
	}
	return stored.AggregateID, o.waitFor(r, stored.Seq)
}

// rollbackStarted is the RollbackStarted of req, its targets found in
// the views.
func (o *API) rollbackStarted(r *http.Request, req workflow.RollbackRequest) (*events.Envelope, error) {
	q := projections.TargetQuery{IDs: req.OperationIDs}
	if req.CheckpointID != "" {
		c, ok := o.Recovery.Checkpoints.Get(req.CheckpointID)
		if !ok {
			v := &workflow.ValidationError{}
			v.Add("checkpoint_id", "checkpoint %s not found", req.CheckpointID)
			return nil, v
		}
		q.AfterSeq = c.Seq
	}
	views := projections.RollbackViews{Tasks: o.Tasks, Batches: o.Batches, Rollbacks: o.Recovery.Rollbacks}
	targets, err := views.Targets(q)
	if errors.Is(err, projections.ErrRollbackBusy) {
		return nil, handlers.Errorf(http.StatusConflict, "%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	if len(targets) > workflow.MaxRollbackTargets {
		return nil, handlers.Errorf(http.StatusUnprocessableEntity, "%d tasks to compensate, more than %d: roll back in parts with operation_ids",
			len(targets), workflow.MaxRollbackTargets)
	}
	id := events.NewID()
	for i := range targets {
		targets[i].CompensationID = events.NewID()
	}
	e, err := events.New(events.RollbackStarted, id, events.RollbackStartedData{RollbackID: id, CheckpointID: req.CheckpointID,
		OperationIDs: req.OperationIDs, Targets: targets, TimeoutSeconds: int(o.TaskTimeout.Seconds()), CLI: o.CLI})
	if err != nil {
		return nil, err
	}
	handlers.Stamp(r, &e)
	return &e, nil
}

func (o *API) rollbackWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		if o.Recovery.RollbackWait > 0 {
			return o.Recovery.RollbackWait, nil
		}
		return 30 * time.Second, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 || time.Duration(n*float64(time.Second)) > MaxRollbackWait {
		return 0, handlers.Errorf(http.StatusBadRequest, "wait must be a number of seconds from 0 to %.0f, not %q", MaxRollbackWait.Seconds(), v)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// restoreCheckpoint appends StateRestored for the checkpoint; the views
// fold it by setting the tasks and batches back to the checkpoint (see
// projections.Tasks.Rewind for exactly how). It is refused while work
// runs: what a restore would do to it is never what was meant.
func (o *API) restoreCheckpoint(w http.ResponseWriter, r *http.Request) error {
	c, err := o.checkpoint(r)
	if err != nil {
		return err
	}
	if err := o.quiet(); err != nil {
		return err
	}
	id := c.ID
	e, err := events.New(events.StateRestored, id, events.StateRestoredData{CheckpointID: id, Seq: c.Seq, Object: c.Object, SHA256: c.SHA256})
	if err != nil {
		return err
	}
	handlers.Stamp(r, &e)
	stored, err := o.Store.Append(r.Context(), e)
	if err != nil {
		return err
	}
	handlers.NoteDetail(r, "seq", c.Seq)
	wait := o.Recovery.RestoreWait
	if wait <= 0 {
		wait = time.Minute
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if err := o.View.WaitFor(ctx, stored.Seq); err != nil {
		return handlers.WriteJSON(w, http.StatusAccepted, fmt.Sprintf("Restore from checkpoint %s recorded; the views are still being set back", id))
	}
	return handlers.WriteJSON(w, http.StatusOK, "State restored from checkpoint "+id)
}

// quiet refuses a restore while tasks, batches or rollbacks are running.
func (o *API) quiet() error {
	counts := o.Tasks.Counts()
	if n := counts[events.StatusPending] + counts[events.StatusRunning]; n > 0 {
		return handlers.Errorf(http.StatusConflict, "%d tasks are pending or running: wait for them or cancel them before restoring", n)
	}
	if n := o.Batches.Counts()[events.StatusRunning]; n > 0 {
		return handlers.Errorf(http.StatusConflict, "%d batches are running: wait for them or cancel them before restoring", n)
	}
	if n := len(o.Recovery.Rollbacks.ActiveRollbacks()); n > 0 {
		return handlers.Errorf(http.StatusConflict, "%d rollbacks are running: wait for them before restoring", n)
	}
	return nil
}

type RollbackStatistics struct {
	TotalCheckpoints    int     `json:"total_checkpoints"`
	TotalRollbacks      int     `json:"total_rollbacks"`
	SuccessRate         float64 `json:"success_rate"`
	AverageRollbackTime float64 `json:"average_rollback_time"`
	CompletedRollbacks  int     `json:"completed_rollbacks"`
	FailedRollbacks     int     `json:"failed_rollbacks"`
	RunningRollbacks    int     `json:"running_rollbacks"`
	TotalRestores       int     `json:"total_restores"`
}

// rollbackStatistics: success rate in percent of the finished rollbacks
// (0 when none finished), average time in seconds from start to the end
// of the last compensation.
func (o *API) rollbackStatistics(w http.ResponseWriter, r *http.Request) error {
	cps, restores := o.Recovery.Checkpoints.Counts()
	s := o.Recovery.Rollbacks.Stats()
	return handlers.WriteJSON(w, http.StatusOK, RollbackStatistics{TotalCheckpoints: cps, TotalRollbacks: s.Total, SuccessRate: s.SuccessRate,
		AverageRollbackTime: s.AverageSeconds, CompletedRollbacks: s.Completed, FailedRollbacks: s.Failed, RunningRollbacks: s.Running,
		TotalRestores: restores})
}

// sizeText writes a byte count as the reference does ("150 MB"): binary
// units (1 KB = 1024 B), whole numbers from 10 up, one decimal below.
func sizeText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KB", "MB", "GB", "TB", "PB"} {
		v, unit = v/1024, u
		if v < 1024 {
			break
		}
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func (o *API) rollbackSnapshots(id string) ([]workflow.Snapshot, bool) {
	if o.Recovery == nil {
		return nil, false
	}
	return o.Recovery.Rollbacks.RollbackSnapshots(id)
}
