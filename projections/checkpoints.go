package projections

import (
	"fmt"
	"sync"
	"time"

	"provisioning/events"
)

// Checkpoint is one checkpoint as the view holds it.
type Checkpoint struct {
	ID              string
	Name            string
	Description     string
	CreatedAt       time.Time
	Seq             uint64
	SizeBytes       int64
	OperationsCount int
	Object          string
	SHA256          string
	Actor           string
	// Restores lists when it was restored.
	Restores []Restore
}

// Restore is one StateRestored.
type Restore struct {
	At    time.Time
	Seq   uint64
	Actor string
}

// Checkpoints is the checkpoint view: checkpoints and their restores. A
// restore does not set it back. It is safe for concurrent readers; only
// its runner applies events.
type Checkpoints struct {
	mu       sync.RWMutex
	byID     map[string]*Checkpoint
	order    []*Checkpoint
	restores int
}

// NewCheckpoints returns an empty checkpoint view.
func NewCheckpoints() *Checkpoints {
	v := &Checkpoints{}
	v.Reset()
	return v
}

// Name implements Projection.
func (v *Checkpoints) Name() string { return "checkpoints" }

// Reset implements Projection.
func (v *Checkpoints) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.byID, v.order, v.restores = map[string]*Checkpoint{}, nil, 0
}

// Apply implements Projection.
func (v *Checkpoints) Apply(env events.Envelope) error {
	if env.Aggregate != events.AggCheckpoint {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch env.Type {
	case events.CheckpointCreated:
		if _, dup := v.byID[env.AggregateID]; dup {
			return fmt.Errorf("checkpoint %s created twice (seq %d)", env.AggregateID, env.Seq)
		}
		var d events.CheckpointCreatedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		c := &Checkpoint{ID: d.CheckpointID, Name: d.Name, Description: d.Description, CreatedAt: env.Time, Seq: d.Seq,
			SizeBytes: d.SizeBytes, OperationsCount: d.OperationsCount, Object: d.Object, SHA256: d.SHA256, Actor: env.Actor}
		v.byID[c.ID] = c
		v.order = append(v.order, c)
	case events.StateRestored:
		c, ok := v.byID[env.AggregateID]
		if !ok {
			return fmt.Errorf("restore of unknown checkpoint %s (seq %d)", env.AggregateID, env.Seq)
		}
		c.Restores = append(c.Restores, Restore{At: env.Time, Seq: env.Seq, Actor: env.Actor})
		v.restores++
	}
	return nil
}

// Get returns a copy of one checkpoint.
func (v *Checkpoints) Get(id string) (Checkpoint, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	c, ok := v.byID[id]
	if !ok {
		return Checkpoint{}, false
	}
	out := *c
	out.Restores = append([]Restore(nil), c.Restores...)
	return out, true
}

// List returns one page of checkpoints, newest first, and how many there
// are.
func (v *Checkpoints) List(offset, limit int) ([]Checkpoint, int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var page []Checkpoint
	for i := len(v.order) - 1 - offset; i >= 0 && len(page) < limit; i-- {
		c := *v.order[i]
		c.Restores = append([]Restore(nil), c.Restores...)
		page = append(page, c)
	}
	return page, len(v.order)
}

// Counts returns how many checkpoints and restores there are.
func (v *Checkpoints) Counts() (checkpoints, restores int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.order), v.restores
}

type checkpointsSnapshot struct {
	Version     int
	Checkpoints []*Checkpoint
}

const checkpointsSnapshotVersion = 1

// Snapshot implements Projection.
func (v *Checkpoints) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return encodeSnapshot(checkpointsSnapshot{Version: checkpointsSnapshotVersion, Checkpoints: v.order})
}

// Restore implements Projection.
func (v *Checkpoints) Restore(data []byte) error {
	var s checkpointsSnapshot
	if err := decodeSnapshot("checkpoints", data, &s, &s.Version, checkpointsSnapshotVersion); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.byID, v.order, v.restores = map[string]*Checkpoint{}, s.Checkpoints, 0
	for _, c := range s.Checkpoints {
		v.byID[c.ID] = c
		v.restores += len(c.Restores)
	}
	return nil
}
