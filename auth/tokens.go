package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/secrets"
)

// Algorithm is the only token signing algorithm issued and accepted.
const Algorithm = "EdDSA"

// ErrInvalidToken: the token is malformed, forged, expired, not valid yet,
// from another issuer, revoked, or its user may no longer use it. The
// wrapped detail is for logs, not for clients.
var ErrInvalidToken = errors.New("invalid token")

// Claims are the claims of our tokens: sub (user id), username, roles,
// jti, iat, exp and iss. The roles are informative; authorization reads
// the user's current roles.
type Claims struct {
	jwt.RegisteredClaims
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
}

// KeySource is where signing keys come from (*projections.SigningKeys).
type KeySource interface {
	Get(kid string) (events.SigningKeyCreatedData, bool)
	All() []events.SigningKeyCreatedData
}

// Tokens issues and verifies EdDSA tokens with the keys of Keys: the
// newest key signs, any key verifies by its kid. Safe for concurrent use.
type Tokens struct {
	Keys KeySource
	// Secrets opens the sealed seeds of the keys.
	Secrets *secrets.Keyring
	Issuer  string
	TTL     time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	parser  *jwt.Parser
	once    sync.Once
	private sync.Map // kid -> ed25519.PrivateKey

	// verified remembers the claims of tokens whose signature checked out,
	// by the whole token string: a signature check costs tens of
	// microseconds, a lookup well under one. Time claims are checked again
	// on every use.
	mu       sync.Mutex
	verified map[string]Claims
}

// verifiedCap bounds the cache of verified tokens (a few MiB).
const verifiedCap = 10000

// Clock is the time tokens are issued and checked at; the one-time codes
// of logins use it too, so that a test can fix it.
func (t *Tokens) Clock() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) init() {
	t.once.Do(func() {
		t.parser = jwt.NewParser(
			jwt.WithValidMethods([]string{Algorithm}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(t.Issuer),
			jwt.WithIssuedAt(),
			jwt.WithStrictDecoding(),
			jwt.WithTimeFunc(t.Clock),
		)
	})
}

// Issue signs a token for a user. The token's iat is strictly after
// validAfter's second (the user's TokensValidAfter), waiting for the next
// second when needed, so that a token issued right after a password change
// is not born invalid.
func (t *Tokens) Issue(ctx context.Context, userID, username string, roles []string, validAfter time.Time) (string, Claims, error) {
	if err := t.waitPast(ctx, validAfter); err != nil {
		return "", Claims{}, err
	}
	keys := t.Keys.All()
	if len(keys) == 0 {
		return "", Claims{}, errors.New("issue token: no signing key")
	}
	key := keys[len(keys)-1]
	priv, err := t.privateKey(key)
	if err != nil {
		return "", Claims{}, err
	}
	now := t.Clock()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.Issuer,
			Subject:   userID,
			ID:        events.NewID(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.TTL)),
		},
		Username: username,
		Roles:    slices.Clone(roles),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = key.KeyID
	signed, err := tok.SignedString(priv)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, c, nil
}

func (t *Tokens) waitPast(ctx context.Context, validAfter time.Time) error {
	if validAfter.IsZero() {
		return nil
	}
	next := time.Unix(validAfter.Unix()+1, 0)
	wait := next.Sub(t.Clock())
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Tokens) privateKey(key events.SigningKeyCreatedData) (ed25519.PrivateKey, error) {
	if k, ok := t.private.Load(key.KeyID); ok {
		return k.(ed25519.PrivateKey), nil
	}
	priv, err := OpenSigningKey(t.Secrets, key)
	if err != nil {
		return nil, err
	}
	t.private.Store(key.KeyID, priv)
	return priv, nil
}

// SigningKeyPurpose binds a sealed seed to its key.
func SigningKeyPurpose(keyID string) string { return "signing-key/" + keyID }

// OpenSigningKey returns the private key of key: its sealed seed opened
// with ring, or (an event written before seeds were sealed) its seed in
// the clear. A ring that does not open it is the wrong key file.
func OpenSigningKey(ring *secrets.Keyring, key events.SigningKeyCreatedData) (ed25519.PrivateKey, error) {
	seed := key.Seed
	if key.SealedSeed != "" {
		if ring == nil {
			return nil, fmt.Errorf("signing key %s is sealed and no secrets key is configured", key.KeyID)
		}
		var err error
		if seed, err = ring.Open(SigningKeyPurpose(key.KeyID), key.SealedSeed); err != nil {
			return nil, fmt.Errorf("signing key %s: %w", key.KeyID, err)
		}
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %s has no valid seed", key.KeyID)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), key.PublicKey) {
		return nil, fmt.Errorf("signing key %s: the seed does not make its public key", key.KeyID)
	}
	return priv, nil
}

// Parse verifies a token and returns its claims: EdDSA only, signed by a
// known key, iss ours, exp required and not passed, nbf and iat not in the
// future, sub and jti present. Every failure wraps ErrInvalidToken.
// Revocation and the user's state are the Authenticator's business.
func (t *Tokens) Parse(token string) (Claims, error) {
	t.init()
	if c, ok := t.cached(token); ok {
		return c, nil
	}
	var c Claims
	_, err := t.parser.ParseWithClaims(token, &c, t.keyFor)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.ID == "" || c.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: sub, jti and iat are required", ErrInvalidToken)
	}
	t.remember(token, c)
	return c, nil
}

// cached returns the claims of a token verified before, if its time
// claims still hold.
func (t *Tokens) cached(token string) (Claims, bool) {
	t.mu.Lock()
	c, ok := t.verified[token]
	t.mu.Unlock()
	if !ok {
		return Claims{}, false
	}
	now := t.Clock()
	if !now.Before(c.ExpiresAt.Time) || c.NotBefore != nil && now.Before(c.NotBefore.Time) || now.Before(c.IssuedAt.Time) {
		t.mu.Lock()
		delete(t.verified, token)
		t.mu.Unlock()
		return Claims{}, false // let the parser say why
	}
	return c, true
}

func (t *Tokens) remember(token string, c Claims) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.verified == nil {
		t.verified = make(map[string]Claims)
	}
	if len(t.verified) >= verifiedCap {
		// Forget a tenth, whichever the map yields first.
		n := 0
		for k := range t.verified {
			delete(t.verified, k)
			if n++; n >= verifiedCap/10 {
				break
			}
		}
	}
	t.verified[token] = c
}

func (t *Tokens) keyFor(tok *jwt.Token) (any, error) {
	if tok.Method.Alg() != Algorithm {
		return nil, fmt.Errorf("algorithm %s is not accepted", tok.Method.Alg())
	}
	kid, _ := tok.Header["kid"].(string)
	key, ok := t.Keys.Get(kid)
	if !ok || len(key.PublicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	return ed25519.PublicKey(key.PublicKey), nil
}

// NewSigningKey makes a fresh Ed25519 key pair, its seed sealed with
// ring.
func NewSigningKey(now time.Time, ring *secrets.Keyring) (events.SigningKeyCreatedData, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return events.SigningKeyCreatedData{}, fmt.Errorf("generate signing key: %w", err)
	}
	sum := sha256.Sum256(pub)
	kid := hex.EncodeToString(sum[:8])
	sealed, err := ring.Seal(SigningKeyPurpose(kid), priv.Seed())
	if err != nil {
		return events.SigningKeyCreatedData{}, err
	}
	return events.SigningKeyCreatedData{
		KeyID: kid, Algorithm: Algorithm,
		SealedSeed: sealed, PublicKey: pub, NotBefore: now.UTC(),
	}, nil
}

// EnsureSigningKey returns the key every instance shares, creating it
// (sealed with ring) when the store has none. Two instances starting at
// once both decide to create it: one append wins, the other reads the
// winner's key.
func EnsureSigningKey(ctx context.Context, store *eventstore.Store, ring *secrets.Keyring) (events.SigningKeyCreatedData, error) {
	var key events.SigningKeyCreatedData
	_, err := store.Decide(ctx, eventstore.FenceOf(events.AggSigningKey, events.PrimarySigningKey), func(last events.Envelope, exists bool) (*events.Envelope, error) {
		if exists {
			return nil, last.Decode(&key)
		}
		var err error
		if key, err = NewSigningKey(store.Now(), ring); err != nil {
			return nil, err
		}
		e, err := events.New(events.SigningKeyCreated, events.PrimarySigningKey, key)
		e.Actor = "system"
		return &e, err
	})
	if err != nil {
		return events.SigningKeyCreatedData{}, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}

// JWK is one public key in JSON Web Key form (RFC 8037: OKP, Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is the key set served at /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicKeys returns the verification keys of src as a JWKS.
func PublicKeys(src KeySource) JWKS {
	set := JWKS{Keys: []JWK{}}
	for _, k := range src.All() {
		set.Keys = append(set.Keys, JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.PublicKey),
			Kid: k.KeyID, Alg: Algorithm, Use: "sig"})
	}
	return set
}
