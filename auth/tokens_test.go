package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/secrets"
)

// keys is an in-memory KeySource.
type keys []events.SigningKeyCreatedData

func (k keys) Get(kid string) (events.SigningKeyCreatedData, bool) {
	for _, key := range k {
		if key.KeyID == kid {
			return key, true
		}
	}
	return events.SigningKeyCreatedData{}, false
}

func (k keys) All() []events.SigningKeyCreatedData { return k }

// testRing seals the keys of these tests.
var testRing = func() *secrets.Keyring {
	r, err := secrets.NewKeyring()
	if err != nil {
		panic(err)
	}
	return r
}()

func newKey(t testing.TB) events.SigningKeyCreatedData {
	t.Helper()
	k, err := auth.NewSigningKey(time.Now(), testRing)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// private opens a key's sealed seed, to forge tokens with it.
func private(t testing.TB, k events.SigningKeyCreatedData) ed25519.PrivateKey {
	t.Helper()
	priv, err := auth.OpenSigningKey(testRing, k)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func newTokens(t testing.TB) (*auth.Tokens, events.SigningKeyCreatedData) {
	k := newKey(t)
	return &auth.Tokens{Keys: keys{k}, Secrets: testRing, Issuer: "provisioning", TTL: time.Hour}, k
}

// sign makes a token with arbitrary claims and header, signed by key.
func sign(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, kid string, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIssuedTokenParses(t *testing.T) {
	t.Parallel()
	tokens, key := newTokens(t)
	signed, claims, err := tokens.Issue(context.Background(), "u1", "alice", []string{"operator"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokens.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "u1" || got.Username != "alice" || got.Roles[0] != "operator" || got.ID != claims.ID || got.Issuer != "provisioning" {
		t.Fatalf("claims = %+v", got)
	}
	if got.ExpiresAt.Sub(got.IssuedAt.Time) != time.Hour {
		t.Fatalf("lifetime %v, want 1h", got.ExpiresAt.Sub(got.IssuedAt.Time))
	}
	header, _, _ := strings.Cut(signed, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(header)
	if !strings.Contains(string(raw), `"alg":"EdDSA"`) || !strings.Contains(string(raw), `"kid":"`+key.KeyID+`"`) {
		t.Fatalf("header %s", raw)
	}
}

// Every kind of forged or stale token is refused with ErrInvalidToken.
func TestForgedTokensAreRefused(t *testing.T) {
	t.Parallel()
	tokens, key := newTokens(t)
	priv := private(t, key)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "provisioning", "sub": "u1", "jti": "j1", "username": "alice",
			"roles": []string{"admin"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims { c := valid(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := valid(); delete(c, k); return c }
	other := newKey(t)
	otherPriv := private(t, other)
	none := sign(t, jwt.SigningMethodNone, valid(), key.KeyID, jwt.UnsafeAllowNoneSignatureType)
	good := sign(t, jwt.SigningMethodEdDSA, valid(), key.KeyID, priv)
	parts := strings.Split(good, ".")

	cases := []struct{ name, token string }{
		{"alg none", none},
		{"alg none without signature", strings.Join(strings.Split(none, ".")[:2], ".") + "."},
		{"HS256 signed with the public key", sign(t, jwt.SigningMethodHS256, valid(), key.KeyID, []byte(key.PublicKey))},
		{"HS256 signed with the base64 public key", sign(t, jwt.SigningMethodHS256, valid(), key.KeyID, []byte(base64.RawURLEncoding.EncodeToString(key.PublicKey)))},
		{"another key under our kid", sign(t, jwt.SigningMethodEdDSA, valid(), key.KeyID, otherPriv)},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, valid(), other.KeyID, otherPriv)},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, valid(), "", priv)},
		{"expired", sign(t, jwt.SigningMethodEdDSA, with("exp", now.Add(-time.Second).Unix()), key.KeyID, priv)},
		{"no expiry", sign(t, jwt.SigningMethodEdDSA, without("exp"), key.KeyID, priv)},
		{"not yet valid", sign(t, jwt.SigningMethodEdDSA, with("nbf", now.Add(time.Minute).Unix()), key.KeyID, priv)},
		{"issued in the future", sign(t, jwt.SigningMethodEdDSA, with("iat", now.Add(time.Minute).Unix()), key.KeyID, priv)},
		{"wrong issuer", sign(t, jwt.SigningMethodEdDSA, with("iss", "someone-else"), key.KeyID, priv)},
		{"no issuer", sign(t, jwt.SigningMethodEdDSA, without("iss"), key.KeyID, priv)},
		{"no subject", sign(t, jwt.SigningMethodEdDSA, without("sub"), key.KeyID, priv)},
		{"no jti", sign(t, jwt.SigningMethodEdDSA, without("jti"), key.KeyID, priv)},
		{"no iat", sign(t, jwt.SigningMethodEdDSA, without("iat"), key.KeyID, priv)},
		{"payload swapped", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"provisioning","sub":"admin","jti":"j1","iat":1,"exp":9999999999}`)) + "." + parts[2]},
		{"signature dropped", parts[0] + "." + parts[1] + "."},
		{"garbage", "not.a.token"},
		{"empty", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tokens.Parse(tc.token); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Parse = %v, want ErrInvalidToken", err)
			}
		})
	}
	if _, err := tokens.Parse(good); err != nil {
		t.Fatalf("the control token is refused: %v", err)
	}
}

// A token issued right after the user's tokens were invalidated is born
// valid: its iat lies past the invalidation's second.
func TestIssueWaitsPastInvalidation(t *testing.T) {
	t.Parallel()
	tokens, _ := newTokens(t)
	at := time.Now()
	_, c, err := tokens.Issue(context.Background(), "u1", "alice", nil, at)
	if err != nil {
		t.Fatal(err)
	}
	if c.IssuedAt.Unix() <= at.Unix() {
		t.Fatalf("iat %d is not after the invalidation at %d", c.IssuedAt.Unix(), at.Unix())
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	set := auth.PublicKeys(keys{k})
	if len(set.Keys) != 1 {
		t.Fatalf("keys %+v", set)
	}
	j := set.Keys[0]
	x, err := base64.RawURLEncoding.DecodeString(j.X)
	if j.Kty != "OKP" || j.Crv != "Ed25519" || j.Alg != "EdDSA" || j.Kid != k.KeyID || err != nil || string(x) != string(k.PublicKey) {
		t.Fatalf("jwk %+v", j)
	}
}

// Two instances starting together agree on one signing key.
func TestEnsureSigningKeyAgrees(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	var wg sync.WaitGroup
	got := make([]events.SigningKeyCreatedData, 4)
	errs := make([]error, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = auth.EnsureSigningKey(context.Background(), env.Store, testRing)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i].KeyID != got[0].KeyID || got[i].SealedSeed != got[0].SealedSeed {
			t.Fatalf("instance %d got key %s, instance 0 got %s", i, got[i].KeyID, got[0].KeyID)
		}
	}
	n := 0
	_ = env.Store.Read(context.Background(), events.IAMStream, eventstore.Position{}, func(e events.Envelope, err error) error {
		if e.Type == events.SigningKeyCreated {
			n++
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("%d SigningKeyCreated events, want 1", n)
	}
}

// A token verified once is remembered, but not past its expiry.
func TestVerifiedTokenStillExpires(t *testing.T) {
	t.Parallel()
	tokens, _ := newTokens(t)
	now := time.Now()
	var mu sync.Mutex
	tokens.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	signed, _, err := tokens.Issue(context.Background(), "u1", "alice", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := tokens.Parse(signed); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = now.Add(time.Hour + time.Second)
	mu.Unlock()
	if _, err := tokens.Parse(signed); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("an expired token verified before: %v, want ErrInvalidToken", err)
	}
	// A tampered copy of a remembered token is verified afresh.
	mu.Lock()
	now = now.Add(-time.Hour)
	mu.Unlock()
	i := len(signed) - 10
	flipped := byte('A')
	if signed[i] == 'A' {
		flipped = 'B'
	}
	if _, err := tokens.Parse(signed[:i] + string(flipped) + signed[i+1:]); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("tampered signature: %v", err)
	}
}

// A new signing key's seed is stored sealed; only the ring that sealed it
// opens it, and a key of an older version with its seed in the clear
// still signs.
func TestSigningKeySeedIsSealed(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	if k.Seed != nil || k.SealedSeed == "" {
		t.Fatalf("a new key stores its seed in the clear: %+v", k)
	}
	other, err := secrets.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.OpenSigningKey(other, k); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("another ring opened the seed: %v", err)
	}
	priv := private(t, k)
	legacy := events.SigningKeyCreatedData{KeyID: "old", Algorithm: auth.Algorithm, Seed: priv.Seed(), PublicKey: k.PublicKey}
	tokens := &auth.Tokens{Keys: keys{legacy}, Secrets: testRing, Issuer: "provisioning", TTL: time.Hour}
	signed, _, err := tokens.Issue(context.Background(), "u1", "alice", nil, time.Time{})
	if err != nil {
		t.Fatalf("a plaintext seed of an older version: %v", err)
	}
	if _, err := tokens.Parse(signed); err != nil {
		t.Fatal(err)
	}
	// A sealed seed moved under another key id does not open.
	moved := k
	moved.KeyID = "elsewhere"
	if _, err := auth.OpenSigningKey(testRing, moved); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("a seed moved to another key: %v", err)
	}
}
