package projections

import (
	"fmt"
	"slices"
	"sync"

	"provisioning/events"
)

// SigningKeys is the view of token signing keys, in creation order. The
// newest signs; every key verifies, so a rotation does not cut off tokens
// signed just before it.
type SigningKeys struct {
	mu   sync.RWMutex
	keys []events.SigningKeyCreatedData
}

// NewSigningKeys returns an empty key view.
func NewSigningKeys() *SigningKeys { return &SigningKeys{} }

// Name implements Projection.
func (k *SigningKeys) Name() string { return "signingkeys" }

// Reset implements Projection.
func (k *SigningKeys) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = nil
}

// Apply implements Projection.
func (k *SigningKeys) Apply(env events.Envelope) error {
	if env.Type != events.SigningKeyCreated {
		return nil
	}
	var d events.SigningKeyCreatedData
	if err := env.Decode(&d); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if slices.ContainsFunc(k.keys, func(x events.SigningKeyCreatedData) bool { return x.KeyID == d.KeyID }) {
		return fmt.Errorf("signing key %s created twice (seq %d)", d.KeyID, env.Seq)
	}
	k.keys = append(k.keys, d)
	return nil
}

// Get returns the key with id kid.
func (k *SigningKeys) Get(kid string) (events.SigningKeyCreatedData, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if key.KeyID == kid {
			return key, true
		}
	}
	return events.SigningKeyCreatedData{}, false
}

// All returns every key, oldest first.
func (k *SigningKeys) All() []events.SigningKeyCreatedData {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Clone(k.keys)
}

type signingKeysSnapshot struct {
	Version int
	Keys    []events.SigningKeyCreatedData
}

// Snapshot implements Projection.
func (k *SigningKeys) Snapshot() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return encodeSnapshot(signingKeysSnapshot{Version: 1, Keys: k.keys})
}

// Restore implements Projection.
func (k *SigningKeys) Restore(data []byte) error {
	var s signingKeysSnapshot
	if err := decodeSnapshot("signing keys", data, &s, &s.Version, 1); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = s.Keys
	return nil
}
