package projections

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"provisioning/events"
	"provisioning/workflow"
)

// ErrRollbackBusy: some of the work a rollback would compensate is still
// moving (its batch runs, or another rollback or compensation is at it).
var ErrRollbackBusy = errors.New("the work to roll back is still in progress")

// TargetQuery says what a rollback compensates: every task completed
// after the sequence AfterSeq (a checkpoint's), or the tasks that IDs
// name.
type TargetQuery struct {
	AfterSeq uint64
	IDs      []string
}

// RollbackViews are the views a rollback's targets are resolved from.
type RollbackViews struct {
	Tasks     *Tasks
	Batches   *Batches
	Rollbacks *Rollbacks
}

// Targets resolves q into the tasks to compensate, newest completion
// first, without compensation ids.
//
// A target is a Completed task that created something: not a
// compensation, not a dry run (check_mode), not a delete. With AfterSeq,
// every such task completed after it that is not compensated yet is a
// target; ErrRollbackBusy (409) when one of them is still being worked
// on. With IDs, each id is a task id, "<batch id>/<operation id>" (the
// operation's completed tasks) or an operation id that exactly one batch
// has; an id that names nothing, names something that cannot be undone,
// or is already compensated is a *workflow.ValidationError naming
// operation_ids[i] (422), and nothing is returned.
func (v RollbackViews) Targets(q TargetQuery) ([]events.RollbackTarget, error) {
	facts := v.Tasks.undoFacts()
	busy := v.Rollbacks.Compensating()
	running := v.Batches.runningSet()
	var out []events.RollbackTarget
	if q.IDs == nil {
		var conflicts []string
		for _, f := range facts.completed {
			if f.completedSeq <= q.AfterSeq || f.undoable() != "" || facts.compensatedBy(f.id) != "" {
				continue
			}
			if why := facts.busy(f, busy, running); why != "" {
				conflicts = append(conflicts, "task "+f.id+": "+why)
				continue
			}
			out = append(out, f.target())
		}
		if len(conflicts) > 0 {
			return nil, fmt.Errorf("%w: %s", ErrRollbackBusy, summarize(conflicts))
		}
		return sortTargets(out), nil
	}
	var bad workflow.ValidationError
	seen := map[string]bool{}
	for i, id := range q.IDs {
		field := fmt.Sprintf("operation_ids[%d]", i)
		ids, isOp, err := v.resolve(id, facts)
		if err != "" {
			bad.Add(field, "%s", err)
			continue
		}
		var kept int
		errsBefore := len(bad.Fields)
		for _, tid := range ids {
			f := facts.byID[tid]
			if f == nil {
				continue // scheduled, not created yet: not completed either
			}
			switch why := facts.reject(f, busy, running, isOp); {
			case why == skip:
			case why != "":
				bad.Add(field, "%s", why)
			case !seen[tid]:
				seen[tid] = true
				out = append(out, f.target())
				kept++
			default:
				kept++
			}
		}
		if isOp && kept == 0 && len(bad.Fields) == errsBefore {
			bad.Add(field, "operation %s has no completed task left to undo", id)
		}
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	return sortTargets(out), nil
}

// skip is reject's answer for a task of an operation that is simply not
// to be undone (not completed, already undone, nothing to undo).
const skip = "\x00skip"

// reject says why task f cannot be a target ("": it can). Of an
// operation's tasks (many), those with nothing to undo are skipped rather
// than refused.
func (u undoFacts) reject(f *taskFact, busy, running map[string]string, many bool) string {
	if f.status != events.StatusCompleted {
		if many {
			return skip
		}
		return fmt.Sprintf("task %s is %s; only completed tasks can be rolled back", f.id, f.status)
	}
	if why := f.undoable(); why != "" {
		if many {
			return skip
		}
		return fmt.Sprintf("task %s %s", f.id, why)
	}
	if by := u.compensatedBy(f.id); by != "" {
		if many {
			return skip
		}
		return fmt.Sprintf("task %s is already compensated by task %s", f.id, by)
	}
	if why := u.busy(f, busy, running); why != "" {
		return fmt.Sprintf("task %s: %s", f.id, why)
	}
	return ""
}

// resolve turns one operation id into task ids (isOp: an operation's),
// or says why it cannot.
func (v RollbackViews) resolve(id string, facts undoFacts) (ids []string, isOp bool, err string) {
	if _, ok := facts.byID[id]; ok {
		return []string{id}, false, ""
	}
	if batchID, opID, ok := strings.Cut(id, "/"); ok {
		ids, found := v.Batches.operationTasks(batchID, opID)
		if !found {
			return nil, true, fmt.Sprintf("%q names no operation (batch %q, operation %q)", id, batchID, opID)
		}
		return ids, true, ""
	}
	batches := v.Batches.batchesWithOperation(id)
	switch len(batches) {
	case 0:
		return nil, false, fmt.Sprintf("%q is not a task id nor an operation id of any batch", id)
	case 1:
		ids, _ := v.Batches.operationTasks(batches[0], id)
		return ids, true, ""
	}
	return nil, true, fmt.Sprintf("operation %q is in %d batches (%s): name it as <batch id>/%s", id, len(batches), summarize(batches), id)
}

func summarize(items []string) string {
	if len(items) > 5 {
		return strings.Join(items[:5], "; ") + fmt.Sprintf("; and %d more", len(items)-5)
	}
	return strings.Join(items, "; ")
}

func sortTargets(ts []events.RollbackTarget) []events.RollbackTarget {
	slices.SortFunc(ts, func(a, b events.RollbackTarget) int { return cmp.Compare(b.CompletedSeq, a.CompletedSeq) })
	return ts
}

// taskFact is what a rollback needs to know of one task.
type taskFact struct {
	id, name, status, batchID, operationID, compensates string
	spec                                                events.TaskSpec
	completedSeq                                        uint64
}

func (f *taskFact) target() events.RollbackTarget {
	return events.RollbackTarget{TaskID: f.id, Name: f.name, Spec: workflow.Undo(f.spec), BatchID: f.batchID,
		OperationID: f.operationID, CompletedSeq: f.completedSeq}
}

// undoable says why the task created nothing to undo ("": it did).
func (f *taskFact) undoable() string {
	switch {
	case f.compensates != "":
		return "is itself a compensation (of task " + f.compensates + ")"
	case f.spec.CheckMode:
		return "was a dry run (check_mode): it created nothing to undo"
	case f.spec.Operation == workflow.OpDelete:
		return "was a delete: there is nothing it created to undo"
	}
	return ""
}

// undoFacts are the tasks as a rollback sees them.
type undoFacts struct {
	byID      map[string]*taskFact
	completed []*taskFact
	// comps maps a task to its compensations.
	comps map[string][]*taskFact
}

// compensatedBy names a completed compensation of task id ("" if none).
func (u undoFacts) compensatedBy(id string) string {
	for _, c := range u.comps[id] {
		if c.status == events.StatusCompleted {
			return c.id
		}
	}
	return ""
}

// busy says what is still working on task f ("": nothing).
func (u undoFacts) busy(f *taskFact, compensating, running map[string]string) string {
	if r, ok := compensating[f.id]; ok {
		return "rollback " + r + " is compensating it"
	}
	for _, c := range u.comps[f.id] {
		if !events.Terminal(c.status) {
			return "its compensation " + c.id + " is " + c.status
		}
	}
	if f.batchID != "" && running[f.batchID] != "" {
		return "its batch " + f.batchID + " is still running"
	}
	return ""
}

// undoFacts collects the facts of every task, completed ones in
// completion order.
func (t *Tasks) undoFacts() undoFacts {
	t.mu.RLock()
	defer t.mu.RUnlock()
	u := undoFacts{byID: make(map[string]*taskFact, len(t.byID)), comps: map[string][]*taskFact{}}
	for _, task := range t.order {
		f := &taskFact{id: task.ID, name: task.Name, status: task.Status, batchID: task.BatchID, operationID: task.OperationID,
			compensates: task.Compensates, spec: task.Spec}
		if task.Status == events.StatusCompleted {
			for i := len(task.Snapshots) - 1; i >= 0; i-- {
				if task.Snapshots[i].State == "completed" {
					f.completedSeq = task.Snapshots[i].Seq
					break
				}
			}
			u.completed = append(u.completed, f)
		}
		u.byID[f.id] = f
		if f.compensates != "" {
			u.comps[f.compensates] = append(u.comps[f.compensates], f)
		}
	}
	return u
}

// runningSet maps every running batch id to itself.
func (v *Batches) runningSet() map[string]string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[string]string{}
	for _, b := range v.order {
		if !b.Terminal() {
			out[b.ID] = b.ID
		}
	}
	return out
}

// operationTasks lists the original tasks of one operation of a batch
// (those scheduled so far).
func (v *Batches) operationTasks(batchID, opID string) ([]string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := v.byID[batchID]
	if b == nil {
		return nil, false
	}
	for _, op := range b.Operations {
		if op.Spec.ID != opID {
			continue
		}
		ids := []string{}
		for _, t := range op.Tasks {
			if t.ID != "" {
				ids = append(ids, t.ID)
			}
		}
		return ids, true
	}
	return nil, false
}

// batchesWithOperation lists the batches that have an operation opID.
func (v *Batches) batchesWithOperation(opID string) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []string
	for _, b := range v.order {
		for _, op := range b.Operations {
			if op.Spec.ID == opID {
				out = append(out, b.ID)
				break
			}
		}
	}
	return out
}

// Members lists the tasks of batch id (compensations included, sorted)
// and the sequence the batch was created at; ok is false for an unknown
// batch.
func (v *Batches) Members(id string) (tasks []string, createdSeq uint64, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := v.byID[id]
	if b == nil {
		return nil, 0, false
	}
	tasks = b.TaskIDs()
	slices.Sort(tasks)
	return tasks, b.CreatedSeq, true
}
