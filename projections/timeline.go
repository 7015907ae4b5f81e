package projections

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/eventstore"
)

// CheckpointObjectStore is the object store holding the views captured at
// each checkpoint, one object per checkpoint.
const CheckpointObjectStore = "PROV_CHECKPOINTS"

// ViewState is the views of one stream at one sequence: each view's
// snapshot by name.
type ViewState struct {
	Seq   uint64
	Views map[string][]byte
}

// CheckpointObjects keeps ViewStates in CheckpointObjectStore, each with
// its sequence and the SHA-256 of its bytes, which the checkpoint's event
// records too: an object that does not match is never used.
type CheckpointObjects struct {
	obs jetstream.ObjectStore
}

// OpenCheckpointObjects creates or opens the checkpoint object store.
func OpenCheckpointObjects(ctx context.Context, store *eventstore.Store) (*CheckpointObjects, error) {
	obs, err := store.ObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: CheckpointObjectStore, Description: "views captured at checkpoints"})
	if err != nil {
		return nil, err
	}
	return &CheckpointObjects{obs: obs}, nil
}

// Put stores s under name and returns its size and digest.
func (c *CheckpointObjects) Put(ctx context.Context, name string, s ViewState) (size int64, digest string, err error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return 0, "", fmt.Errorf("encode checkpoint %s: %w", name, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	digest = hex.EncodeToString(sum[:])
	meta := jetstream.ObjectMeta{Name: name, Metadata: map[string]string{"seq": strconv.FormatUint(s.Seq, 10), "sha256": digest}}
	size = int64(buf.Len())
	if _, err := c.obs.Put(ctx, meta, &buf); err != nil {
		return 0, "", fmt.Errorf("store checkpoint %s: %w", name, eventstore.StorageError(err))
	}
	return size, digest, nil
}

// ErrCheckpointObject: the object of a checkpoint is missing or not the
// one its event describes.
var ErrCheckpointObject = errors.New("checkpoint object missing or corrupted")

// Get reads the object name and checks it against digest and seq.
func (c *CheckpointObjects) Get(ctx context.Context, name, digest string, seq uint64) (ViewState, error) {
	res, err := c.obs.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return ViewState{}, fmt.Errorf("%w: %s does not exist", ErrCheckpointObject, name)
	}
	if err != nil {
		return ViewState{}, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	defer res.Close()
	data, err := io.ReadAll(res)
	if err != nil {
		return ViewState{}, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != digest {
		return ViewState{}, fmt.Errorf("%w: %s does not match its digest", ErrCheckpointObject, name)
	}
	var s ViewState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		return ViewState{}, fmt.Errorf("%w: %s: %v", ErrCheckpointObject, name, err)
	}
	if s.Seq != seq {
		return ViewState{}, fmt.Errorf("%w: %s is at seq %d, not %d", ErrCheckpointObject, name, s.Seq, seq)
	}
	return s, nil
}

// Delete removes the object name (tests use it to lose a checkpoint).
func (c *CheckpointObjects) Delete(ctx context.Context, name string) error {
	return c.obs.Delete(ctx, name)
}

// Timeline answers what the restorable views held at a checkpoint: from
// the checkpoint's object when it is there and intact, else by folding
// the stream up to the checkpoint's sequence into fresh views. Both give
// the same state (the object is a cache of the fold), so the views after
// a restore are a function of the stream alone.
type Timeline struct {
	Store *eventstore.Store
	// Objects may be nil: every state is then recomputed.
	Objects *CheckpointObjects
	Log     *slog.Logger
}

// StateAt implements StateSource.
func (t *Timeline) StateAt(ctx context.Context, d events.StateRestoredData) (map[string][]byte, error) {
	if t.Objects != nil && d.Object != "" {
		s, err := t.Objects.Get(ctx, d.Object, d.SHA256, d.Seq)
		if err == nil {
			return s.Views, nil
		}
		if !errors.Is(err, ErrCheckpointObject) {
			return nil, err
		}
		t.log().Warn("checkpoint object not used, recomputing the views from the stream", "checkpoint", d.CheckpointID, "seq", d.Seq, "err", err)
	}
	return t.Recompute(ctx, d.Seq)
}

// Recompute folds the stream up to seq into fresh restorable views and
// returns their snapshots.
func (t *Timeline) Recompute(ctx context.Context, seq uint64) (map[string][]byte, error) {
	views := RestorableViews()
	if _, err := Fold(ctx, t.Store, FoldRange{Until: seq}, t, views...); err != nil {
		return nil, fmt.Errorf("recompute the views at seq %d: %w", seq, err)
	}
	out := make(map[string][]byte, len(views))
	for _, v := range views {
		data, err := v.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshot %s at seq %d: %w", v.Name(), seq, err)
		}
		out[v.Name()] = data
	}
	return out, nil
}

func (t *Timeline) log() *slog.Logger {
	if t.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Log
}

// RestorableViews returns fresh instances of the views a restore sets
// back: the tasks and the batches.
func RestorableViews() []Projection {
	return []Projection{NewTasks(), NewBatches()}
}

// FoldRange is the part of the stream Fold reads: From (the first
// sequence, 0 or 1: the beginning) to Until (inclusive; 0: the stream's
// end when Fold starts).
type FoldRange struct {
	From, Until uint64
}

// Fold applies the events of PROV_EVENTS in r to views, in order, as a
// runner would (restores included, through src), and returns the number
// of events a view could not apply. It reads the stream, never a copy,
// and holds nothing but the views.
func Fold(ctx context.Context, store *eventstore.Store, r FoldRange, src StateSource, views ...Projection) (failures int, err error) {
	var rewinders []Rewinder
	for _, v := range views {
		if rw, ok := v.(Rewinder); ok {
			rewinders = append(rewinders, rw)
		}
	}
	if r.Until == 0 {
		if r.Until, err = store.LastSeq(ctx, events.EventsStream); err != nil {
			return 0, err
		}
	}
	if r.Until == 0 || r.From > r.Until {
		return 0, nil
	}
	err = store.Read(ctx, events.EventsStream, eventstore.Position{From: r.From}, func(env events.Envelope, perr error) error {
		if env.Seq > r.Until {
			return eventstore.ErrStop
		}
		if perr != nil {
			failures++
		} else {
			if env.Type == events.StateRestored && len(rewinders) > 0 {
				var d events.StateRestoredData
				if err := env.Decode(&d); err != nil {
					failures++
				} else if src == nil {
					failures++
				} else {
					failures += len(restore(ctx, src, d, rewinders, func(string, ...any) {}))
				}
			}
			for _, v := range views {
				if v.Apply(env) != nil {
					failures++
				}
			}
		}
		if env.Seq >= r.Until {
			return eventstore.ErrStop
		}
		return nil
	})
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return failures, err
}

// CheckpointObjectsIn uses an object store that already exists.
func CheckpointObjectsIn(obs jetstream.ObjectStore) *CheckpointObjects {
	return &CheckpointObjects{obs: obs}
}
