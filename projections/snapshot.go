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
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// Snapshots keeps one snapshot per projection in a JetStream object store,
// with the stream sequence it was taken at and a SHA-256 of its bytes. A
// snapshot that fails either check is never trusted: the projection is
// rebuilt from the stream.
type Snapshots struct {
	obs jetstream.ObjectStore
}

// Save stores p's current state as of seq.
func (s *Snapshots) Save(ctx context.Context, p Projection, seq uint64) error {
	data, err := p.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", p.Name(), err)
	}
	sum := sha256.Sum256(data)
	meta := jetstream.ObjectMeta{
		Name: p.Name(),
		Metadata: map[string]string{
			"seq":    strconv.FormatUint(seq, 10),
			"sha256": hex.EncodeToString(sum[:]),
		},
	}
	if _, err := s.obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("store snapshot %s: %w", p.Name(), err)
	}
	return nil
}

// Load restores p from its snapshot and returns the sequence it was taken
// at. A snapshot newer than the stream's last sequence belongs to another
// history and is refused.
func (s *Snapshots) Load(ctx context.Context, p Projection, streamLast uint64) (uint64, error) {
	res, err := s.obs.Get(ctx, p.Name())
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read snapshot %s: %w", p.Name(), err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return 0, fmt.Errorf("read snapshot %s: %w", p.Name(), err)
	}
	data, err := io.ReadAll(res)
	if err != nil {
		return 0, fmt.Errorf("read snapshot %s: %w", p.Name(), err)
	}
	seq, err := strconv.ParseUint(info.Metadata["seq"], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s has no valid seq: %w", p.Name(), err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != info.Metadata["sha256"] {
		return 0, fmt.Errorf("snapshot %s is corrupted: checksum mismatch", p.Name())
	}
	if seq > streamLast {
		return 0, fmt.Errorf("snapshot %s at seq %d is ahead of the stream (last %d)", p.Name(), seq, streamLast)
	}
	if err := p.Restore(data); err != nil {
		return 0, fmt.Errorf("restore snapshot %s: %w", p.Name(), err)
	}
	return seq, nil
}

// SnapshotsIn uses an object store that already exists (a read-only
// reader such as `provisioning replay` must not create or reconfigure
// one).
func SnapshotsIn(obs jetstream.ObjectStore) *Snapshots { return &Snapshots{obs: obs} }

// encodeSnapshot gob-encodes a view's snapshot struct (the form every
// view's Snapshot writes).
func encodeSnapshot(s any) ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(s)
	return buf.Bytes(), err
}

// decodeSnapshot gob-decodes data into s, a pointer to a view's snapshot
// struct, and checks that its version (the struct's Version field, which
// version points to) is want. what names the view in errors.
func decodeSnapshot(what string, data []byte, s any, version *int, want int) error {
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(s); err != nil {
		return fmt.Errorf("decode %s snapshot: %w", what, err)
	}
	if *version != want {
		return fmt.Errorf("%s snapshot version %d, want %d", what, *version, want)
	}
	return nil
}

// Seq returns the sequence p's stored snapshot was taken at, without
// loading it; false when there is none (or it names no valid sequence).
func (s *Snapshots) Seq(ctx context.Context, name string) (uint64, bool, error) {
	info, err := s.obs.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read snapshot %s: %w", name, err)
	}
	seq, err := strconv.ParseUint(info.Metadata["seq"], 10, 64)
	if err != nil {
		return 0, false, nil
	}
	return seq, true, nil
}

// Drop deletes the snapshot of name: its view is rebuilt from the stream.
func (s *Snapshots) Drop(ctx context.Context, name string) error {
	if err := s.obs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("drop snapshot %s: %w", name, err)
	}
	return nil
}
