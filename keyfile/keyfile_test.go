package keyfile_test

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"provisioning/keyfile"
)

// Processes creating one key file at once all end up with the same key,
// and the file is its owner's alone.
func TestEnsureAgreesOnOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "k")
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, _, err := keyfile.Ensure(path, func() ([]byte, error) { return []byte(rand.Text()), nil })
			if err != nil {
				t.Error(err)
			}
			got[i] = string(data)
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] || g == "" {
			t.Fatalf("callers read different keys: %q", got)
		}
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", info.Mode(), err)
	}
	if err := keyfile.Create(path, []byte("other")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a second Create: %v, want fs.ErrExist", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}
