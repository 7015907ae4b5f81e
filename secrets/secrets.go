// Package secrets seals the secrets the event store holds (the token
// signing key's seed, TOTP secrets, webhook signing secrets) with a key
// that never lives in NATS: a key ring in a file of its own, created on
// the first start in the data directory or given with --secrets-key-file.
// Whoever reads a stream, a snapshot or a backup of them sees sealed
// boxes; only a process holding the key file can open them.
//
// A sealed value is "v1.<key id>.<base64url(nonce | ciphertext)>", sealed
// with XChaCha20-Poly1305 (random 24-byte nonces are safe at any volume)
// and bound to its purpose (say "totp/<user id>") as additional data, so a
// box copied into another record does not open there.
package secrets

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"provisioning/keyfile"
)

// KeyFile is the key ring's file name in a data directory.
const KeyFile = "secrets.key"

// Errors of Open.
var (
	// ErrUnknownKey: the value was sealed with a key the ring does not
	// hold (another deployment's key file, or a key removed too early).
	ErrUnknownKey = errors.New("sealed with a key this key file does not hold")
	// ErrTampered: the box does not open with its key: altered, or moved
	// from the record it was sealed for.
	ErrTampered = errors.New("sealed value does not open: altered or not sealed for this record")
)

const version = "v1"

type key struct {
	id   string
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
	}
}

// Keyring holds the keys secrets are sealed with: the first seals, every
// one opens (so a new key can be put first while values sealed with the
// old one are still in use). Safe for concurrent use.
type Keyring struct {
	keys []key
	path string
}

// header is written above the keys of a new file.
const header = `# provisioning secrets key ring: one base64 key per line; the first seals,
# every one opens. Give every instance of a deployment the same file
# (--secrets-key-file), mode 0600. Keep it out of NATS and out of the
# backups of NATS: whoever has both can read every secret.
# Rotate: provisioning secrets-key rotate --secrets-key-file <this file>
`

// LoadOrCreate reads the key ring at path, creating it with one new key
// when it does not exist. Instances starting at once on one path end up
// with the same ring.
func LoadOrCreate(path string) (ring *Keyring, created bool, err error) {
	data, created, err := keyfile.Ensure(path, func() ([]byte, error) {
		line, err := newKeyLine()
		if err != nil {
			return nil, err
		}
		return []byte(header + line + "\n"), nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("secrets key: %w", err)
	}
	ring, err = Parse(data)
	if err != nil {
		return nil, false, fmt.Errorf("secrets key %s: %w", path, err)
	}
	ring.path = path
	return ring, created, nil
}

// Load reads an existing key ring.
func Load(path string) (*Keyring, error) {
	data, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	ring, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("secrets key %s: %w", path, err)
	}
	ring.path = path
	return ring, nil
}

// Parse reads a key ring: lines of base64 32-byte keys, first the one
// that seals; blank lines and lines starting with # are skipped.
func Parse(data []byte) (*Keyring, error) {
	ring := &Keyring{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(raw) != chacha20poly1305.KeySize {
			return nil, fmt.Errorf("line %d is not a base64 key of %d bytes", n+1, chacha20poly1305.KeySize)
		}
		k, err := newKey(raw)
		if err != nil {
			return nil, err
		}
		for _, other := range ring.keys {
			if other.id == k.id {
				return nil, fmt.Errorf("line %d repeats key %s", n+1, k.id)
			}
		}
		ring.keys = append(ring.keys, k)
	}
	if len(ring.keys) == 0 {
		return nil, errors.New("holds no key")
	}
	return ring, nil
}

func newKey(raw []byte) (key, error) {
	aead, err := chacha20poly1305.NewX(raw)
	if err != nil {
		return key{}, err
	}
	return key{id: keyID(raw), aead: aead}, nil
}

// keyID names a key without revealing it: 8 bytes of a hash of it.
func keyID(raw []byte) string {
	sum := sha256.Sum256(append([]byte("provisioning secrets key id\x00"), raw...))
	return hex.EncodeToString(sum[:8])
}

func newKeyLine() (string, error) {
	raw := make([]byte, chacha20poly1305.KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("new secrets key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// Path is the file the ring was read from ("" when parsed from bytes).
func (r *Keyring) Path() string { return r.path }

// KeyID is the id of the key that seals.
func (r *Keyring) KeyID() string { return r.keys[0].id }

// KeyIDs are the ids of every key, the sealing one first.
func (r *Keyring) KeyIDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// Seal encrypts plain for purpose with the ring's first key.
func (r *Keyring) Seal(purpose string, plain []byte) (string, error) {
	k := r.keys[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	box := k.aead.Seal(nonce, nonce, plain, []byte(purpose))
	return version + "." + k.id + "." + base64.RawURLEncoding.EncodeToString(box), nil
}

// SealString is Seal for a string.
func (r *Keyring) SealString(purpose, plain string) (string, error) {
	return r.Seal(purpose, []byte(plain))
}

// Open decrypts a value Seal made for purpose. It fails with
// ErrUnknownKey when the value's key is not in the ring, ErrTampered when
// the box does not open, or an error saying the value is not a sealed
// value at all.
func (r *Keyring) Open(purpose, sealed string) ([]byte, error) {
	ver, rest, ok := strings.Cut(sealed, ".")
	id, enc, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || ver != version {
		return nil, fmt.Errorf("open %s: not a sealed value", purpose)
	}
	box, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("open %s: not a sealed value: %w", purpose, err)
	}
	for _, k := range r.keys {
		if k.id != id {
			continue
		}
		if len(box) < k.aead.NonceSize() {
			return nil, fmt.Errorf("open %s: %w", purpose, ErrTampered)
		}
		nonce, ct := box[:k.aead.NonceSize()], box[k.aead.NonceSize():]
		plain, err := k.aead.Open(nil, nonce, ct, []byte(purpose))
		if err != nil {
			return nil, fmt.Errorf("open %s (key %s): %w", purpose, id, ErrTampered)
		}
		return plain, nil
	}
	return nil, fmt.Errorf("open %s: %w (key %s; this file holds %s)", purpose, ErrUnknownKey, id, strings.Join(r.KeyIDs(), ", "))
}

// OpenString is Open for a string.
func (r *Keyring) OpenString(purpose, sealed string) (string, error) {
	plain, err := r.Open(purpose, sealed)
	return string(plain), err
}

// SealedWith returns the id of the key a sealed value names ("" when it
// is not a sealed value).
func SealedWith(sealed string) string {
	ver, rest, ok := strings.Cut(sealed, ".")
	id, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || ver != version {
		return ""
	}
	return id
}

// Stored is a secret as events and views keep it: Sealed, or, for a
// value written before secrets were sealed, Plain (still read, so data
// directories of older versions keep working). The zero Stored is no
// secret.
type Stored struct {
	Sealed string
	Plain  string
}

// IsZero reports whether s holds no secret.
func (s Stored) IsZero() bool { return s.Sealed == "" && s.Plain == "" }

// OpenStored returns the secret s holds, opening it when sealed.
func (r *Keyring) OpenStored(purpose string, s Stored) ([]byte, error) {
	if s.Sealed == "" {
		return []byte(s.Plain), nil
	}
	return r.Open(purpose, s.Sealed)
}

// Rotate puts a new key first in the ring file at path, keeping the old
// ones below it to open what they sealed, and returns the new ring. The
// file is replaced atomically (its mode stays 0600).
func Rotate(path string) (*Keyring, error) {
	data, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	if _, err := Parse(data); err != nil {
		return nil, fmt.Errorf("secrets key %s: %w", path, err)
	}
	line, err := newKeyLine()
	if err != nil {
		return nil, err
	}
	var comments, keys bytes.Buffer
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			comments.WriteString(l)
		} else {
			keys.WriteString(l)
		}
	}
	out := comments.String() + line + "\n" + keys.String()
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if err := keyfile.Replace(path, []byte(out)); err != nil {
		return nil, err
	}
	return Load(path)
}

// NewKeyring returns a ring of one fresh key that lives in memory only:
// for tests, and for tools whose sealed values need not outlive them.
func NewKeyring() (*Keyring, error) {
	line, err := newKeyLine()
	if err != nil {
		return nil, err
	}
	return Parse([]byte(line))
}
