package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/eventstore"
)

// NamesBucket is the KV bucket that makes usernames and emails unique.
const NamesBucket = "PROV_IAM_NAMES"

// ErrTaken: another user holds the name.
var ErrTaken = errors.New("already taken")

// Names are claims on usernames and emails, compared case-insensitively:
// a claim is a KV create, atomic across instances, so two users created at
// once with one name cannot both get it (a read of the user view could not
// promise that). A claim whose owner never came to exist (its creator
// crashed between claim and append) or was deleted is stale and may be
// taken over.
type Names struct {
	kv jetstream.KeyValue
	// Owner reports the state of a user in the event store (not in a
	// view, which may lag): only claims of live users count.
	Owner func(ctx context.Context, userID string) (OwnerState, error)
	// Grace is how old a claim of a user that does not exist must be before
	// it counts as stale: its creator may be about to append.
	Grace time.Duration
}

// OpenNames creates or opens the bucket.
func OpenNames(ctx context.Context, store *eventstore.Store) (*Names, error) {
	kv, err := store.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: NamesBucket, Description: "unique usernames and emails", History: 1})
	if err != nil {
		return nil, err
	}
	n := &Names{kv: kv, Grace: time.Minute}
	n.Owner = func(ctx context.Context, userID string) (OwnerState, error) {
		last, err := store.Last(ctx, events.AggUser, userID)
		switch {
		case errors.Is(err, eventstore.ErrNotFound):
			return OwnerMissing, nil
		case err != nil:
			return 0, err
		case last.Type == events.UserDeleted:
			return OwnerDeleted, nil
		}
		return OwnerLive, nil
	}
	return n, nil
}

// OwnerState is what became of the user a claim names.
type OwnerState int

// Owner states.
const (
	OwnerLive OwnerState = iota
	// OwnerMissing: no event of the user exists (yet, or ever).
	OwnerMissing
	// OwnerDeleted: the user was deleted.
	OwnerDeleted
)

// Name kinds.
const (
	KindUsername = "username"
	KindEmail    = "email"
)

func nameKey(kind, value string) string {
	sum := sha256.Sum256([]byte(NameKey(value)))
	return kind + "." + hex.EncodeToString(sum[:])
}

// Claim gives the name to userID, or returns ErrTaken when another live
// user holds it. Claiming a name one already holds succeeds.
func (n *Names) Claim(ctx context.Context, kind, value, userID string) error {
	key := nameKey(kind, value)
	_, err := n.kv.Create(ctx, key, []byte(userID))
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("claim %s: %w", kind, err)
	}
	entry, err := n.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return n.Claim(ctx, kind, value, userID) // released meanwhile
	}
	if err != nil {
		return fmt.Errorf("claim %s: %w", kind, err)
	}
	owner := string(entry.Value())
	if owner == userID {
		return nil
	}
	stale, err := n.stale(ctx, owner, entry.Created())
	if err != nil {
		return err
	}
	if !stale {
		return fmt.Errorf("%s %w", kind, ErrTaken)
	}
	if _, err := n.kv.Update(ctx, key, []byte(userID), entry.Revision()); err != nil {
		return fmt.Errorf("%s %w", kind, ErrTaken) // someone else took it over first
	}
	return nil
}

func (n *Names) stale(ctx context.Context, owner string, created time.Time) (bool, error) {
	state, err := n.Owner(ctx, owner)
	if err != nil {
		return false, fmt.Errorf("check owner of a name: %w", err)
	}
	switch state {
	case OwnerDeleted:
		return true, nil // its deletion crashed before releasing the name
	case OwnerMissing:
		// A young claim may belong to a creation in flight.
		return time.Since(created) > n.Grace, nil
	}
	return false, nil
}

// Release frees a name userID holds; a name held by someone else, or by
// no one, is left alone.
func (n *Names) Release(ctx context.Context, kind, value, userID string) error {
	key := nameKey(kind, value)
	entry, err := n.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", kind, err)
	}
	if string(entry.Value()) != userID {
		return nil
	}
	if err := n.kv.Delete(ctx, key, jetstream.LastRevision(entry.Revision())); err != nil {
		return fmt.Errorf("release %s: %w", kind, err)
	}
	return nil
}
