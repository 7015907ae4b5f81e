package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"provisioning/events"
	"provisioning/workflow"
)

// Canonical is a view rendered for comparison: one JSON document per
// item (task, batch, rollback, checkpoint) keyed by its id, plus the
// view's own figures under SummaryKey. Two folds of the same events give
// byte-equal renderings whatever path they took (from scratch, from a
// snapshot, through a restore), so comparing them finds a view that went
// wrong. Everything the view holds is in it, not only what the API shows.
type Canonical map[string]json.RawMessage

// SummaryKey holds a view's own figures in its Canonical rendering.
const SummaryKey = "~summary"

// Canonicalizer is a view that renders itself canonically.
type Canonicalizer interface {
	Projection
	Canonical() (Canonical, error)
}

func (c Canonical) put(id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("render %s: %w", id, err)
	}
	// An empty list or object and a missing one say the same (gob, which
	// snapshots use, does not tell them apart): render both as null.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return fmt.Errorf("render %s: %w", id, err)
	}
	if data, err = json.Marshal(emptyAsNull(tree)); err != nil {
		return fmt.Errorf("render %s: %w", id, err)
	}
	c[id] = data
	return nil
}

func emptyAsNull(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return nil
		}
		for i := range x {
			x[i] = emptyAsNull(x[i])
		}
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
		for k := range x {
			x[k] = emptyAsNull(x[k])
		}
	}
	return v
}

type canonicalTask struct {
	workflow.Task
	Spec       events.TaskSpec     `json:"spec"`
	Snapshots  []workflow.Snapshot `json:"snapshots"`
	CreatedSeq uint64              `json:"created_seq"`
	Seq        uint64              `json:"seq"`
}

// Canonical implements Canonicalizer.
func (t *Tasks) Canonical() (Canonical, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := Canonical{}
	for i, task := range t.order {
		c := canonicalTask{Task: *task, Spec: task.Spec, Snapshots: task.Snapshots, CreatedSeq: task.CreatedSeq, Seq: task.Seq}
		normalizeTask(&c.Task)
		if err := out.put(task.ID, struct {
			Position int `json:"position"`
			canonicalTask
		}{i, c}); err != nil {
			return nil, err
		}
	}
	counts := map[string]int{}
	for k, v := range t.byStatus {
		if v != 0 {
			counts[k] = v
		}
	}
	return out, out.put(SummaryKey, map[string]any{"count": len(t.order), "by_status": counts, "runs": t.runs})
}

// Canonical implements Canonicalizer.
func (v *Batches) Canonical() (Canonical, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := Canonical{}
	for i, b := range v.order {
		if err := out.put(b.ID, struct {
			Position int `json:"position"`
			*workflow.Batch
		}{i, b}); err != nil {
			return nil, err
		}
	}
	counts := map[string]int{}
	for k, n := range v.byStatus {
		if n != 0 {
			counts[k] = n
		}
	}
	return out, out.put(SummaryKey, map[string]any{"count": len(v.order), "by_status": counts, "runs": v.runs})
}

// Canonical implements Canonicalizer.
func (v *Rollbacks) Canonical() (Canonical, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := Canonical{}
	for i, r := range v.order {
		if err := out.put(r.ID, struct {
			Position int `json:"position"`
			*workflow.Rollback
		}{i, r}); err != nil {
			return nil, err
		}
	}
	return out, out.put(SummaryKey, map[string]any{"count": len(v.order), "last_started": strconv.FormatUint(v.lastStarted, 10)})
}

// Canonical implements Canonicalizer.
func (v *Checkpoints) Canonical() (Canonical, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := Canonical{}
	for i, c := range v.order {
		if err := out.put(c.ID, struct {
			Position int `json:"position"`
			*Checkpoint
		}{i, c}); err != nil {
			return nil, err
		}
	}
	return out, out.put(SummaryKey, map[string]any{"count": len(v.order), "restores": v.restores})
}

// EventViews returns fresh instances of every view of PROV_EVENTS, in the
// order an instance's runner holds them.
func EventViews() (*Tasks, *Batches, *Rollbacks, *Checkpoints) {
	return NewTasks(), NewBatches(), NewRollbacks(), NewCheckpoints()
}
