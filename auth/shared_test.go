package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/events/eventstest"
)

func runRevocations(t *testing.T, env *eventstest.Env) *auth.Revocations {
	t.Helper()
	r, err := auth.OpenRevocations(context.Background(), env.Store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("revocations: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("revocations never loaded")
	}
	return r
}

// A revocation on one instance reaches the others, outlives a restart,
// and expires with the token.
func TestRevocationsAreShared(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	a, b := runRevocations(t, env), runRevocations(t, env)
	ctx := context.Background()
	if err := a.Revoke(ctx, "provisioning", "j1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !a.Revoked("provisioning", "j1") {
		t.Fatal("the revoking instance must know at once")
	}
	eventstest.Eventually(t, 5*time.Second, func() bool { return b.Revoked("provisioning", "j1") }, "the other instance never saw the revocation")
	if b.Revoked("other-issuer", "j1") || b.Revoked("provisioning", "j2") {
		t.Fatal("revocation is by issuer and jti")
	}
	if err := a.Revoke(ctx, "provisioning", "j1", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	restarted := runRevocations(t, env)
	if !restarted.Revoked("provisioning", "j1") {
		t.Fatal("a new instance must load stored revocations before Ready")
	}
	if err := a.Revoke(ctx, "provisioning", "short", time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	eventstest.Eventually(t, 5*time.Second, func() bool { return b.Revoked("provisioning", "short") }, "short revocation not seen")
	eventstest.Eventually(t, 10*time.Second, func() bool { return !b.Revoked("provisioning", "short") }, "the revocation outlived its token")
}

func TestMatchTOTP(t *testing.T) {
	t.Parallel()
	secret, url, err := auth.NewTOTP("alice")
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(url)
	if err != nil || key.Secret() != secret || key.Issuer() != auth.TOTPIssuer || key.AccountName() != "alice" || key.Period() != 30 || key.Digits() != otp.DigitsSix {
		t.Fatalf("otpauth url %s: %v", url, err)
	}
	now := time.Unix(1_700_000_010, 0)
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	step := now.Unix() / 30
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
		step int64
	}{
		{"now", now, true, step},
		{"previous step", now.Add(-30 * time.Second), true, step - 1},
		{"next step", now.Add(30 * time.Second), true, step + 1},
		{"two steps old", now.Add(-60 * time.Second), false, 0},
	} {
		got, ok := auth.MatchTOTP(secret, code(tc.at), now)
		if ok != tc.ok || ok && got != tc.step {
			t.Errorf("%s: step %d ok %v, want %d %v", tc.name, got, ok, tc.step, tc.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := auth.MatchTOTP(secret, bad, now); ok {
			t.Errorf("code %q matched", bad)
		}
	}
}

// Two logins with one code at once: exactly one consumes it.
func TestCodeIsConsumedOnce(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	g, err := auth.OpenCodeGuard(context.Background(), env.Store)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = g.Consume(context.Background(), "u1", 56_666_667)
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, auth.ErrCodeUsed):
			t.Fatalf("consume: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d consumers won, want exactly 1", won)
	}
	if err := g.Consume(context.Background(), "u2", 56_666_667); err != nil {
		t.Fatalf("another user's code: %v", err)
	}
	if err := g.Consume(context.Background(), "u1", 56_666_668); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
}

func TestNamesAreUnique(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	ctx := context.Background()
	names, err := auth.OpenNames(ctx, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	// u1 exists in the store; the others never will.
	e, _ := events.New(events.UserCreated, "u1", events.UserCreatedData{UserID: "u1", Username: "alice"})
	if _, err := env.Store.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := names.Claim(ctx, auth.KindUsername, "Alice", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := names.Claim(ctx, auth.KindUsername, "alice", "u1"); err != nil {
		t.Fatalf("claiming one's own name again: %v", err)
	}
	if err := names.Claim(ctx, auth.KindUsername, "ALICE ", "u2"); !errors.Is(err, auth.ErrTaken) {
		t.Fatalf("claim of a held name: %v, want ErrTaken", err)
	}
	if err := names.Claim(ctx, auth.KindEmail, "alice", "u2"); err != nil {
		t.Fatalf("usernames and emails are separate: %v", err)
	}
	if err := names.Release(ctx, auth.KindUsername, "alice", "u2"); err != nil {
		t.Fatal(err)
	}
	if err := names.Claim(ctx, auth.KindUsername, "alice", "u2"); !errors.Is(err, auth.ErrTaken) {
		t.Fatal("a release by someone else must not free the name")
	}
	if err := names.Release(ctx, auth.KindUsername, "alice", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := names.Claim(ctx, auth.KindUsername, "alice", "u2"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	// u2 never came to exist: once the grace is over its claim is stale.
	names.Grace = 0
	if err := names.Claim(ctx, auth.KindUsername, "alice", "u3"); err != nil {
		t.Fatalf("take over a stale claim: %v", err)
	}
	// Many at once: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	names.Grace = time.Hour
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if names.Claim(ctx, auth.KindUsername, "bob", events.NewID()) == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d concurrent claims of bob won, want 1", won)
	}
}
