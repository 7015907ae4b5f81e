package auth_test

import (
	"errors"
	"testing"
	"time"

	"provisioning/auth"
)

// An account is locked after Limit failures, whoever made them, until
// its window has slid past them; names are folded like usernames.
func TestBackoffLocksAnAccountForItsWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	b := &auth.Backoff{Limit: 3, Window: time.Minute, Now: func() time.Time { return now }}
	for i := 0; i < 3; i++ {
		if err := b.Locked("Alice"); err != nil {
			t.Fatalf("locked after %d failures: %v", i, err)
		}
		if err := b.Failed("alice"); err != nil {
			t.Fatal(err)
		}
	}
	err := b.Locked("ALICE")
	var lock *auth.Lockout
	if !errors.As(err, &lock) || !errors.Is(err, auth.ErrAccountLocked) || lock.RetryAfter() != 61 {
		t.Fatalf("after 3 failures: %v", err)
	}
	if err := b.Locked("bob"); err != nil {
		t.Fatalf("another account is locked: %v", err)
	}
	now = now.Add(50 * time.Second)
	if err := b.Locked("alice"); err == nil {
		t.Fatal("unlocked within the window of the failures")
	}
	now = now.Add(40 * time.Second) // the sliding window holds half of them
	if err := b.Locked("alice"); err != nil {
		t.Fatalf("still locked once the window slid past half of the failures: %v", err)
	}
	var off *auth.Backoff
	if off.Locked("alice") != nil || off.Failed("alice") != nil {
		t.Fatal("a nil backoff limits")
	}
}
