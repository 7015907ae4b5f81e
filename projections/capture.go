package projections

import (
	"context"
	"sort"

	"provisioning/events"
)

// Checkpointer captures the views of a runner for a checkpoint.
type Checkpointer struct {
	Runner  *Runner
	Objects *CheckpointObjects
	// Tasks is the task view among the runner's, for the operations
	// count.
	Tasks *Tasks
}

// Captured is what a checkpoint records: the position, and the object
// holding the views at it.
type Captured struct {
	Seq             uint64
	Object          string
	SizeBytes       int64
	SHA256          string
	Views           []string
	OperationsCount int
}

// ObjectName is the object of checkpoint id.
func ObjectName(checkpointID string) string { return "checkpoint-" + checkpointID }

// Capture snapshots every view of the runner between two events and
// stores them as the object of checkpoint id. The views must have caught
// up with what the caller wants included (Runner.WaitFor).
func (c *Checkpointer) Capture(ctx context.Context, id string) (Captured, error) {
	state := ViewState{Views: map[string][]byte{}}
	var completed int
	err := c.Runner.Capture(func(seq uint64, views []Projection) error {
		state.Seq = seq
		for _, v := range views {
			data, err := v.Snapshot()
			if err != nil {
				return err
			}
			state.Views[v.Name()] = data
		}
		completed = c.Tasks.Counts()[events.StatusCompleted]
		return nil
	})
	if err != nil {
		return Captured{}, err
	}
	out := Captured{Seq: state.Seq, Object: ObjectName(id), OperationsCount: completed}
	for name := range state.Views {
		out.Views = append(out.Views, name)
	}
	sort.Strings(out.Views)
	out.SizeBytes, out.SHA256, err = c.Objects.Put(ctx, out.Object, state)
	return out, err
}

// Discard deletes the object of a checkpoint that could not be recorded.
func (c *Checkpointer) Discard(ctx context.Context, id string) error {
	return c.Objects.Delete(ctx, ObjectName(id))
}
