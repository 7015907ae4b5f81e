package auth_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"provisioning/auth"
	"provisioning/events"
)

// fuzzClock is the fixed time of the fuzz target; the checked-in corpus
// holds tokens valid at it.
var fuzzClock = time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)

// fuzzKey is a fixed key, so that the corpus can hold validly signed
// tokens for the fuzzer to mutate.
func fuzzKey() events.SigningKeyCreatedData {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return events.SigningKeyCreatedData{KeyID: "fuzz", Algorithm: "EdDSA", Seed: seed, PublicKey: priv.Public().(ed25519.PublicKey)}
}

// FuzzParseToken: the parser never panics, and whatever it accepts is a
// token of our issuer, signed with EdDSA, with a subject and an id.
func FuzzParseToken(f *testing.F) {
	tokens := &auth.Tokens{Keys: keys{fuzzKey()}, Issuer: "provisioning", TTL: time.Hour, Now: func() time.Time { return fuzzClock }}
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := tokens.Parse(token)
		if err != nil {
			return
		}
		if c.Issuer != "provisioning" || c.Subject == "" || c.ID == "" || c.ExpiresAt == nil || !c.ExpiresAt.After(fuzzClock) {
			t.Fatalf("accepted claims %+v", c)
		}
		if strings.Count(token, ".") != 2 {
			t.Fatalf("accepted a token that is not three segments: %q", token)
		}
	})
}

// The corpus must hold tokens the parser accepts, or the fuzzer mutates
// only refusals.
func TestFuzzCorpusHoldsValidTokens(t *testing.T) {
	t.Parallel()
	tokens := &auth.Tokens{Keys: keys{fuzzKey()}, Issuer: "provisioning", TTL: time.Hour, Now: func() time.Time { return fuzzClock }}
	for _, name := range []string{"valid", "valid-map"} {
		data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseToken", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		token, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Parse(token); err != nil {
			t.Errorf("corpus token %s is refused: %v", name, err)
		}
	}
}
