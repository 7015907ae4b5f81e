package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A hasher with all slots taken makes callers wait, and a caller whose
// context ends gives up without hashing: a login flood queues, it does not
// allocate.
func TestHashingIsBounded(t *testing.T) {
	t.Parallel()
	h := NewHasher(Argon2Params{MemoryKiB: 64, Passes: 1, Lanes: 1, SaltLen: 16, KeyLen: 32}, 2)
	h.slots <- struct{}{}
	h.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password-password"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hash with every slot taken: %v, want the context's deadline", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "password-password")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("hash ran without a slot: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	<-h.slots
	if err := <-done; err != nil {
		t.Fatalf("hash after a slot freed: %v", err)
	}
}
