// Package keyfile keeps keys in files of their own: created once,
// atomically, readable by their owner only, and refused when others may
// read them. The embedded NATS server's client nkey and the key that
// seals secrets live in such files.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Ensure returns the contents of the key file at path, creating it with
// the contents newKey makes when it does not exist. Processes may call it
// at once on one path: the file appears whole or not at all, and every
// caller reads the same contents.
func Ensure(path string, newKey func() ([]byte, error)) (data []byte, created bool, err error) {
	data, err = Read(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return data, false, err
	}
	fresh, err := newKey()
	if err != nil {
		return nil, false, err
	}
	err = Create(path, fresh)
	if err == nil {
		return fresh, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	}
	// Another process was first: use its key.
	data, err = Read(path)
	return data, false, err
}

// Read returns the contents of an existing key file. A file whose mode
// lets its group or others read it is refused: whatever it holds must be
// treated as leaked.
func Read(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: mode %04o lets others read it (chmod 600 %s)", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return data, nil
}

// Create writes a new key file with mode 0600 (its directory 0700 when it
// has to be made). The contents are written under a temporary name and
// hard-linked into place, so no reader sees a half-written key and a
// second writer gets an error wrapping fs.ErrExist.
func Create(path string, data []byte) error {
	return place(path, data, os.Link)
}

// Replace writes a key file that may exist already, atomically (a
// temporary file renamed over it), with mode 0600.
func Replace(path string, data []byte) error {
	return place(path, data, os.Rename)
}

func place(path string, data []byte, into func(from, to string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = into(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	return nil
}
