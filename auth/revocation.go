package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"provisioning/eventstore"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// RevocationBucket is the KV bucket of revoked tokens: one key per
// (issuer, jti), expiring when the token would have.
const RevocationBucket = "PROV_REVOKED"

// Revocations is the shared list of revoked tokens. Revoke writes the
// bucket with a per-key TTL equal to the token's remaining lifetime, so the
// list holds only tokens that could still be used; every instance keeps a
// local copy fed by a watcher (Run), so checking a request costs a map
// lookup, not a round trip. The instance that revokes updates its own copy
// at once. Safe for concurrent use.
type Revocations struct {
	kv    jetstream.KeyValue
	now   func() time.Time
	mu    sync.RWMutex
	set   map[string]time.Time // key -> token expiry
	ready chan struct{}
	once  sync.Once
}

// OpenRevocations creates or opens the bucket.
func OpenRevocations(ctx context.Context, store *eventstore.Store) (*Revocations, error) {
	kv, err := store.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      RevocationBucket,
		Description: "revoked tokens by issuer and jti, each kept until the token expires",
		History:     1,
		// Markers of expired keys are kept a minute so watchers see the
		// expiry; the per-key TTLs need them enabled.
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, err
	}
	return &Revocations{kv: kv, now: store.Now, set: map[string]time.Time{}, ready: make(chan struct{})}, nil
}

// NewLocalRevocations returns a list that lives in memory only (for tests
// and benchmarks of code that checks revocations).
func NewLocalRevocations() *Revocations {
	r := &Revocations{now: time.Now, set: map[string]time.Time{}, ready: make(chan struct{})}
	close(r.ready)
	return r
}

func revocationKey(issuer, jti string) string {
	sum := sha256.Sum256([]byte(issuer + "\x00" + jti))
	return hex.EncodeToString(sum[:20])
}

// Revoke records that the token (issuer, jti) expiring at exp may no
// longer be used, for every instance and across restarts.
func (r *Revocations) Revoke(ctx context.Context, issuer, jti string, exp time.Time) error {
	key := revocationKey(issuer, jti)
	r.remember(key, exp)
	ttl := exp.Sub(r.now())
	if r.kv == nil || ttl <= 0 {
		return nil // an expired token is refused anyway
	}
	// JetStream TTLs have a one-second resolution: round up.
	ttl = max(time.Second, ttl.Truncate(time.Second)+time.Second)
	_, err := r.kv.Create(ctx, key, []byte(strconv.FormatInt(exp.Unix(), 10)), jetstream.KeyTTL(ttl))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("revoke token %s: %w", jti, err)
	}
	return nil
}

// Revoked reports whether the token (issuer, jti) was revoked.
func (r *Revocations) Revoked(issuer, jti string) bool {
	key := revocationKey(issuer, jti)
	r.mu.RLock()
	_, ok := r.set[key]
	r.mu.RUnlock()
	return ok
}

func (r *Revocations) remember(key string, exp time.Time) {
	r.mu.Lock()
	r.set[key] = exp
	r.mu.Unlock()
}

// Ready is closed once the local copy holds every revocation stored when
// Run started.
func (r *Revocations) Ready() <-chan struct{} { return r.ready }

// Run keeps the local copy in step with the bucket until ctx ends. It also
// drops expired entries every minute.
func (r *Revocations) Run(ctx context.Context) error {
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch revocations: %w", err)
	}
	defer func() { _ = w.Stop() }()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prune.C:
			r.prune()
		case entry, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("watch revocations: the watcher stopped")
			}
			r.apply(entry)
		}
	}
}

func (r *Revocations) apply(entry jetstream.KeyValueEntry) {
	if entry == nil { // the end of the stored entries
		r.once.Do(func() { close(r.ready) })
		return
	}
	if entry.Operation() != jetstream.KeyValuePut {
		r.mu.Lock()
		delete(r.set, entry.Key())
		r.mu.Unlock()
		return
	}
	exp := r.now().Add(24 * time.Hour)
	if unix, err := strconv.ParseInt(string(entry.Value()), 10, 64); err == nil {
		exp = time.Unix(unix, 0)
	}
	r.remember(entry.Key(), exp)
}

func (r *Revocations) prune() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, exp := range r.set {
		if now.After(exp) {
			delete(r.set, k)
		}
	}
}
