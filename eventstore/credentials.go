package eventstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/nats-io/nkeys"

	"provisioning/keyfile"
)

// ClientKeyFile is the name, in a data directory, of the nkey seed that
// clients of an embedded server with a listener must prove.
const ClientKeyFile = "nats.nk"

// ClientKey is the one client identity a listening server admits: an
// nkey user. Whoever holds the seed file may read and write every stream,
// so it is created with mode 0600 and a file others may read is refused.
type ClientKey struct {
	// Path is the seed file; clients give it to DialConfig.NkeyFile
	// (`nats --nkey <path>` for the nats CLI).
	Path string
	// Public is the user's public key (U…), which the server admits.
	Public string
	// RouteSecret is the password cluster routes authenticate with,
	// derived from the seed: whoever holds the seed already has every
	// other right, and a cluster then needs one file, not two.
	RouteSecret string
}

// EnsureClientKey reads the nkey seed file at path, creating it with a
// new user key when it does not exist. Servers of one cluster may call it
// at once on one path: they all end up with the same key.
func EnsureClientKey(path string) (ClientKey, error) {
	data, _, err := keyfile.Ensure(path, newClientKey(path))
	if err != nil {
		return ClientKey{}, fmt.Errorf("nats client key: %w", err)
	}
	return parseClientKey(path, data)
}

// ReadClientKey reads an existing nkey seed file.
func ReadClientKey(path string) (ClientKey, error) {
	data, err := keyfile.Read(path)
	if err != nil {
		return ClientKey{}, fmt.Errorf("nats client key: %w", err)
	}
	return parseClientKey(path, data)
}

func parseClientKey(path string, data []byte) (ClientKey, error) {
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return ClientKey{}, fmt.Errorf("nats client key %s: %w", path, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return ClientKey{}, fmt.Errorf("nats client key %s: %w", path, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return ClientKey{}, fmt.Errorf("nats client key %s: %w", path, err)
	}
	mac := hmac.New(sha256.New, seed)
	mac.Write([]byte("provisioning nats cluster routes"))
	return ClientKey{Path: path, Public: pub, RouteSecret: hex.EncodeToString(mac.Sum(nil))}, nil
}

// newClientKey makes the contents of a new seed file: comments saying
// what it is, then the seed (nats.go and the nats CLI skip the comments).
func newClientKey(path string) func() ([]byte, error) {
	return func() ([]byte, error) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("create nats client key: %w", err)
		}
		defer kp.Wipe()
		seed, err := kp.Seed()
		if err != nil {
			return nil, fmt.Errorf("create nats client key: %w", err)
		}
		return []byte("# The nkey of the one client provisioning's NATS server admits.\n" +
			"# Whoever holds this file can read and write every stream: keep it mode 0600.\n" +
			"# nats CLI: nats --server nats://<listen address> --nkey " + path + " stream ls\n" +
			string(seed) + "\n"), nil
	}
}
