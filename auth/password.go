package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters. The defaults are OWASP's
// recommendation: 19 MiB of memory, 2 passes, 1 lane.
type Argon2Params struct {
	MemoryKiB uint32
	Passes    uint32
	Lanes     uint8
	SaltLen   uint32
	KeyLen    uint32
}

// DefaultArgon2 is what new hashes are made with.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Passes: 2, Lanes: 1, SaltLen: 16, KeyLen: 32}

// ErrMismatch: the password does not match the hash.
var ErrMismatch = errors.New("password does not match")

// Hasher hashes and verifies passwords. At most Concurrency hashes run at
// once (each holds MemoryKiB of memory); further callers wait their turn
// or give up when their context ends, so a flood of logins costs time,
// never unbounded memory. It is safe for concurrent use.
type Hasher struct {
	params Argon2Params
	slots  chan struct{}

	dummyOnce sync.Once
	dummy     string
}

// NewHasher returns a hasher with params (zero: DefaultArgon2) running at
// most concurrency hashes at once (<= 0: the number of CPUs).
func NewHasher(params Argon2Params, concurrency int) *Hasher {
	if params == (Argon2Params{}) {
		params = DefaultArgon2
	}
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	return &Hasher{params: params, slots: make(chan struct{}, concurrency)}
}

// Params reports the parameters new hashes use.
func (h *Hasher) Params() Argon2Params { return h.params }

// acquire waits for a hashing slot.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	key := argon2.IDKey([]byte(password), salt, h.params.Passes, h.params.MemoryKiB, h.params.Lanes, h.params.KeyLen)
	return encodePHC(h.params, salt, key), nil
}

// Verify checks password against a PHC hash made by Hash (with any
// parameters). It returns ErrMismatch when they differ.
func (h *Hasher) Verify(ctx context.Context, hash, password string) error {
	p, salt, want, err := decodePHC(hash)
	if err != nil {
		return err
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Passes, p.MemoryKiB, p.Lanes, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// VerifyDummy costs what Verify costs and always fails with ErrMismatch.
// Logins of unknown users call it, so that neither the answer nor its
// timing tells whether a username exists.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	h.dummyOnce.Do(func() {
		salt := make([]byte, h.params.SaltLen)
		_, _ = rand.Read(salt)
		key := make([]byte, h.params.KeyLen)
		_, _ = rand.Read(key) // no password hashes to this key
		h.dummy = encodePHC(h.params, salt, key)
	})
	if err := h.Verify(ctx, h.dummy, password); err != nil {
		return err
	}
	return ErrMismatch
}

var b64 = base64.RawStdEncoding

func encodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Passes, p.Lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// maxHashMemoryKiB bounds the memory a stored hash may ask for (1 GiB): a
// hash is trusted data, but a corrupted one must not take the process down.
const maxHashMemoryKiB = 1 << 20

func decodePHC(hash string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("password hash is not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("password hash has argon2 version %q, want %d", parts[2], argon2.Version)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Passes, &p.Lanes); err != nil {
		return p, nil, nil, fmt.Errorf("password hash parameters %q: %w", parts[3], err)
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > maxHashMemoryKiB || p.Passes == 0 || p.Passes > 100 || p.Lanes == 0 {
		return p, nil, nil, fmt.Errorf("password hash parameters %q are out of range", parts[3])
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("password hash salt: %w", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, errors.New("password hash key is malformed")
	}
	return p, salt, key, nil
}

// Password policy bounds.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// CheckPassword enforces the password policy: MinPasswordLen to
// MaxPasswordLen characters, and neither the username nor the email. The
// error is a sentence for the client.
func CheckPassword(password, username, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return errors.New("must be valid UTF-8")
	case n < MinPasswordLen:
		return fmt.Errorf("must be at least %d characters long", MinPasswordLen)
	case n > MaxPasswordLen:
		return fmt.Errorf("must be at most %d characters long", MaxPasswordLen)
	case strings.TrimSpace(password) == "":
		return errors.New("must not be only spaces")
	case strings.IndexFunc(password, unicode.IsControl) >= 0:
		// NUL, tab, newline, DEL, C1: nobody types them, a terminal or
		// a form mangles them, and NULs cut C strings short.
		return errors.New("must not hold control characters")
	case username != "" && strings.EqualFold(password, username):
		return errors.New("must not be the username")
	case email != "" && strings.EqualFold(password, email):
		return errors.New("must not be the email")
	}
	return nil
}
