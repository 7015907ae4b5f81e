package projections

import (
	"fmt"
	"sync"
	"time"

	"provisioning/events"
	"provisioning/workflow"
)

// Rollbacks is the rollback view: every rollback folded by
// workflow.Rollback from its own events and its compensation tasks'
// events. It serves the API (results, progress, snapshots, statistics)
// and the rollback coordinator (what to decide next). A restore does not
// set it back: rollbacks are the record of recovery itself. It is safe
// for concurrent readers; only its runner applies events.
type Rollbacks struct {
	mu     sync.RWMutex
	byID   map[string]*workflow.Rollback
	order  []*workflow.Rollback
	byTask map[string]stepRef // compensation task -> its step
	// lastStarted is the sequence of the last RollbackStarted: a new
	// rollback's targets are decided from the views at it and stored
	// expecting it (eventstore.ExpectLastOn), so two rollbacks never take the
	// same task.
	lastStarted uint64
}

type stepRef struct {
	r    *workflow.Rollback
	step int
}

// NewRollbacks returns an empty rollback view.
func NewRollbacks() *Rollbacks {
	v := &Rollbacks{}
	v.Reset()
	return v
}

// Name implements Projection.
func (v *Rollbacks) Name() string { return "rollbacks" }

// Reset implements Projection.
func (v *Rollbacks) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.byID, v.order, v.byTask, v.lastStarted = map[string]*workflow.Rollback{}, nil, map[string]stepRef{}, 0
}

// Apply implements Projection.
func (v *Rollbacks) Apply(env events.Envelope) error {
	switch env.Aggregate {
	case events.AggRollback:
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.applyRollback(env)
	case events.AggTask:
		v.mu.Lock()
		defer v.mu.Unlock()
		if ref, ok := v.byTask[env.AggregateID]; ok {
			return ref.r.ApplyTask(ref.step, env)
		}
	}
	return nil
}

func (v *Rollbacks) applyRollback(env events.Envelope) error {
	if env.Type == events.RollbackStarted {
		if _, dup := v.byID[env.AggregateID]; dup {
			return fmt.Errorf("rollback %s started twice (seq %d)", env.AggregateID, env.Seq)
		}
		var d events.RollbackStartedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		r := workflow.NewRollback(env, d)
		v.byID[r.ID] = r
		v.order = append(v.order, r)
		v.lastStarted = env.Seq
		v.index(r)
		return nil
	}
	r, ok := v.byID[env.AggregateID]
	if !ok {
		return fmt.Errorf("%s for unknown rollback %s (seq %d)", env.Type, env.AggregateID, env.Seq)
	}
	return r.Apply(env)
}

func (v *Rollbacks) index(r *workflow.Rollback) {
	for i, s := range r.Steps {
		v.byTask[s.Target.CompensationID] = stepRef{r, i}
	}
}

// RollbackOf names the rollback an applied event is about (its own
// events and its compensations'), "" for anything else: the
// coordinator's way to know which rollbacks to decide again.
func (v *Rollbacks) RollbackOf(env events.Envelope) string {
	switch env.Aggregate {
	case events.AggRollback:
		return env.AggregateID
	case events.AggTask:
		v.mu.RLock()
		defer v.mu.RUnlock()
		if ref, ok := v.byTask[env.AggregateID]; ok {
			return ref.r.ID
		}
	}
	return ""
}

// DecideRollback returns the next decision of rollback id and the
// rollback's sequence (the version its completion expects); ok is false
// for an unknown rollback.
func (v *Rollbacks) DecideRollback(id string) (d workflow.RollbackDecision, seq uint64, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r := v.byID[id]
	if r == nil {
		return d, 0, false
	}
	return r.Next(), r.Seq, true
}

// ActiveRollbacks lists the rollbacks that have not finished.
func (v *Rollbacks) ActiveRollbacks() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []string
	for _, r := range v.order {
		if !r.Terminal() {
			out = append(out, r.ID)
		}
	}
	return out
}

// LastStarted is the sequence of the last RollbackStarted folded (0:
// none).
func (v *Rollbacks) LastStarted() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.lastStarted
}

// Compensating maps each task that an unfinished rollback has yet to
// compensate (or is compensating) to that rollback.
func (v *Rollbacks) Compensating() map[string]string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[string]string{}
	for _, r := range v.order {
		if r.Terminal() {
			continue
		}
		for _, s := range r.Steps {
			if !events.Terminal(s.Status) {
				out[s.Target.TaskID] = r.ID
			}
		}
	}
	return out
}

// RollbackResult is a rollback as POST /rollback/execute answers it: the
// reference's fields (Duration in seconds) and the status.
type RollbackResult struct {
	RollbackID         string  `json:"rollback_id"`
	Success            bool    `json:"success"`
	OperationsExecuted int     `json:"operations_executed"`
	OperationsFailed   int     `json:"operations_failed"`
	Duration           float64 `json:"duration"`
	Status             string  `json:"status"`
	OperationsTotal    int     `json:"operations_total"`
	CheckpointID       string  `json:"checkpoint_id,omitempty"`
}

// Result returns rollback id's result so far; a running rollback is not
// (yet) a success and its duration runs until now.
func (v *Rollbacks) Result(id string, now time.Time) (RollbackResult, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r := v.byID[id]
	if r == nil {
		return RollbackResult{}, false
	}
	executed, failed, total := r.Counts()
	res := RollbackResult{RollbackID: r.ID, Status: r.Status, OperationsExecuted: executed, OperationsFailed: failed,
		OperationsTotal: total, CheckpointID: r.CheckpointID}
	if r.Terminal() {
		res.Success, res.Duration = r.Status == events.StatusCompleted, r.Duration
		res.OperationsExecuted, res.OperationsFailed = r.Executed, r.Failed
	} else {
		res.Duration = roundSeconds(now.Sub(r.StartedAt))
	}
	return res, true
}

// Terminal reports whether rollback id has finished; ok is false for an
// unknown one.
func (v *Rollbacks) Terminal(id string) (terminal, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r := v.byID[id]
	if r == nil {
		return false, false
	}
	return r.Terminal(), true
}

// RollbackStats are the figures of GET /rollback/statistics. Times are in
// seconds, SuccessRate in percent of the finished rollbacks (0 when none
// finished).
type RollbackStats struct {
	Total, Completed, Failed, Running int
	SuccessRate, AverageSeconds       float64
}

// Stats counts the rollbacks.
func (v *Rollbacks) Stats() RollbackStats {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := RollbackStats{Total: len(v.order)}
	var total float64
	for _, r := range v.order {
		switch r.Status {
		case events.StatusCompleted:
			s.Completed++
		case events.StatusFailed:
			s.Failed++
		default:
			s.Running++
			continue
		}
		total += r.Duration
	}
	if done := s.Completed + s.Failed; done > 0 {
		s.SuccessRate = round1(100 * float64(s.Completed) / float64(done))
		s.AverageSeconds = float64(int64(total/float64(done)*1000+0.5)) / 1000
	}
	return s
}

// RollbackProgress is the progress of rollback id: its compensations as
// steps, the one under way as the current step, and a remaining time
// from the observed durations of tasks of the same kinds (runs, from
// Tasks.Runs).
func (v *Rollbacks) RollbackProgress(id string, runs map[string]Durations, now time.Time) (WorkflowProgress, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r := v.byID[id]
	if r == nil {
		return WorkflowProgress{}, false
	}
	executed, failed, total := r.Counts()
	p := WorkflowProgress{WorkflowID: r.ID, Kind: "rollback", Status: r.Status, Progress: r.Progress(),
		TotalSteps: total, CompletedSteps: executed + failed}
	if i := r.Current(); i >= 0 {
		step := "compensating " + r.Steps[i].Target.Name
		if s := r.Steps[i].Step; s != "" {
			step += ": " + s
		}
		p.CurrentStep = &step
	}
	if r.Terminal() {
		p.EstimatedTimeRemaining = seconds(0)
		return p, true
	}
	e := newEstimator(runs, now)
	var left time.Duration
	for _, s := range r.Steps {
		d, ok := e.remaining(s.Target.Spec.Workflow, s.Status, s.StartedAt)
		if !ok {
			return p, true
		}
		left += d
	}
	p.EstimatedTimeRemaining = seconds(left)
	return p, true
}

// RollbackSnapshots returns the rollback's snapshots: its start, the end
// of each compensation and its completion, oldest first.
func (v *Rollbacks) RollbackSnapshots(id string) ([]workflow.Snapshot, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r := v.byID[id]
	if r == nil {
		return nil, false
	}
	out := make([]workflow.Snapshot, len(r.Snapshots))
	copy(out, r.Snapshots)
	return out, true
}

// CompensationIDs lists the compensation tasks of rollback id, in step
// order; ok is false for an unknown rollback.
func (v *Rollbacks) CompensationIDs(id string) ([]string, uint64, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r := v.byID[id]
	if r == nil {
		return nil, 0, false
	}
	out := make([]string, len(r.Steps))
	for i, s := range r.Steps {
		out[i] = s.Target.CompensationID
	}
	return out, r.CreatedSeq, true
}

// rollbacksSnapshot is the encoded form of the view. Bump its version
// when workflow.Rollback changes shape.
type rollbacksSnapshot struct {
	Version     int
	Rollbacks   []*workflow.Rollback
	LastStarted uint64
}

const rollbacksSnapshotVersion = 1

// Snapshot implements Projection.
func (v *Rollbacks) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return encodeSnapshot(rollbacksSnapshot{Version: rollbacksSnapshotVersion, Rollbacks: v.order, LastStarted: v.lastStarted})
}

// Restore implements Projection.
func (v *Rollbacks) Restore(data []byte) error {
	var s rollbacksSnapshot
	if err := decodeSnapshot("rollbacks", data, &s, &s.Version, rollbacksSnapshotVersion); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.byID, v.order, v.byTask, v.lastStarted = map[string]*workflow.Rollback{}, s.Rollbacks, map[string]stepRef{}, s.LastStarted
	for _, r := range s.Rollbacks {
		v.byID[r.ID] = r
		v.index(r)
	}
	return nil
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// roundSeconds is d in seconds, to the millisecond.
func roundSeconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }
