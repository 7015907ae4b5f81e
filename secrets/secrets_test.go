package secrets_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"provisioning/secrets"
)

func TestSealOpens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), secrets.KeyFile)
	ring, created, err := secrets.LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info.Mode(), err)
	}
	sealed, err := ring.SealString("totp/u1", "JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
		t.Fatalf("the sealed value shows the secret: %s", sealed)
	}
	again, created, err := secrets.LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("second start: created %v, %v", created, err)
	}
	if got, err := again.OpenString("totp/u1", sealed); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open after a restart: %q %v", got, err)
	}
	if _, err := again.OpenString("totp/u2", sealed); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("a box moved to another record: %v, want ErrTampered", err)
	}
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 1
	if _, err := again.OpenString("totp/u1", string(flipped)); err == nil {
		t.Fatal("an altered box opened")
	}
	other, _, err := secrets.LoadOrCreate(filepath.Join(t.TempDir(), secrets.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.OpenString("totp/u1", sealed); !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), ring.KeyID()) {
		t.Fatalf("another deployment's key: %v, want ErrUnknownKey naming %s", err, ring.KeyID())
	}
}

// Rotation puts a new key first: new values are sealed with it, old ones
// still open with the old key kept below it.
func TestRotateKeepsOldKeysOpening(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), secrets.KeyFile)
	ring, _, err := secrets.LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := ring.SealString("webhook/w1", "s3cret-value")
	rotated, err := secrets.Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyID() == ring.KeyID() || len(rotated.KeyIDs()) != 2 || rotated.KeyIDs()[1] != ring.KeyID() {
		t.Fatalf("after rotation keys %v (was %s)", rotated.KeyIDs(), ring.KeyID())
	}
	if got, err := rotated.OpenString("webhook/w1", old); err != nil || got != "s3cret-value" {
		t.Fatalf("an old value after rotation: %q %v", got, err)
	}
	fresh, _ := rotated.SealString("webhook/w1", "s3cret-value")
	if secrets.SealedWith(fresh) != rotated.KeyID() {
		t.Fatalf("new values sealed with %s, want the new key %s", secrets.SealedWith(fresh), rotated.KeyID())
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file mode %v %v", info.Mode(), err)
	}
}

func TestKeyFileProblemsAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string]string{
		"empty":      "# nothing\n",
		"not base64": "not a key\n",
		"short key":  "c2hvcnQ=\n",
	}
	for name, content := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := secrets.Load(path); err == nil {
			t.Errorf("%s: a bad key file was accepted", name)
		}
	}
	path := filepath.Join(dir, "readable")
	if _, _, err := secrets.LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key file its group may read: %v", err)
	}
}
