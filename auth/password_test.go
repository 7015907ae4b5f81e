package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"provisioning/auth"
)

// cheap parameters keep tests fast; one test uses the real ones.
var cheap = auth.Argon2Params{MemoryKiB: 64, Passes: 1, Lanes: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := auth.NewHasher(auth.Argon2Params{}, 0)
	if h.Params() != auth.DefaultArgon2 || auth.DefaultArgon2.MemoryKiB < 19*1024 || auth.DefaultArgon2.Passes < 2 {
		t.Fatalf("default parameters %+v are below OWASP's", h.Params())
	}
	hash, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string with the OWASP parameters", hash)
	}
	if err := h.Verify(ctx, hash, "correct horse battery"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := h.Verify(ctx, hash, "correct horse batterY"); !errors.Is(err, auth.ErrMismatch) {
		t.Fatalf("wrong password: %v, want ErrMismatch", err)
	}
	again, _ := h.Hash(ctx, "correct horse battery")
	if again == hash {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if err := h.VerifyDummy(ctx, "correct horse battery"); !errors.Is(err, auth.ErrMismatch) {
		t.Fatalf("dummy verify: %v, want ErrMismatch", err)
	}
}

func TestVerifyRefusesMalformedHashes(t *testing.T) {
	t.Parallel()
	h := auth.NewHasher(cheap, 1)
	for _, hash := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$short",
	} {
		err := h.Verify(context.Background(), hash, "x")
		if err == nil || errors.Is(err, auth.ErrMismatch) {
			t.Errorf("hash %q: err = %v, want a malformed-hash error", hash, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, password, username, email string
		want                            string
	}{
		{"ok", "a long passphrase", "alice", "alice@example.com", ""},
		{"too short", "short", "alice", "", "at least 12"},
		{"eleven runes", "ééééééééééé", "alice", "", "at least 12"},
		{"too long", strings.Repeat("x", 257), "alice", "", "at most 256"},
		{"username", "Alice-The-Admin", "alice-the-admin", "", "username"},
		{"email", "alice@example.com", "alice", "ALICE@example.com", "email"},
		{"spaces", strings.Repeat(" ", 12), "alice", "", "spaces"},
		{"invalid utf-8", "\xff\xfe" + strings.Repeat("a", 12), "alice", "", "UTF-8"},
		{"NUL characters", strings.Repeat("\x00", 12), "alice", "", "control characters"},
		{"a NUL inside", "a long pass\x00phrase", "alice", "", "control characters"},
		{"a C1 control", "a long pass\u0085phrase", "alice", "", "control characters"},
		{"a tab", "a long\tpassphrase", "alice", "", "control characters"},
		{"unicode letters", "ein langes Paßwort ✓", "alice", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := auth.CheckPassword(tc.password, tc.username, tc.email)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("CheckPassword = %v, want %q", err, tc.want)
			}
		})
	}
}
