package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"provisioning/client"
)

// fileConfig is config.toml in the config directory: defaults below the
// flags and the environment.
type fileConfig struct {
	Server        string `toml:"server"`
	ControlServer string `toml:"control_server"`
	Output        string `toml:"output"`
	Username      string `toml:"username"`
}

func loadConfig(dir string) (fileConfig, error) {
	var cfg fileConfig
	if dir == "" {
		return cfg, nil
	}
	path := filepath.Join(dir, "config.toml")
	md, err := toml.DecodeFile(path, &cfg)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, usagef("%s: %v", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return cfg, usagef("%s: unknown setting %q (known: server, control_server, output, username)", path, un[0].String())
	}
	return cfg, nil
}

// storedSession is a session kept on disk for one control center.
type storedSession struct {
	client.Session
	// Server is the orchestrator the login was made for (informative).
	Server string `json:"server,omitempty"`
	// MFA remembers that the login needed a code, so the next login asks.
	MFA bool `json:"mfa,omitempty"`
}

// sessionStore is credentials.json: one session per control center URL,
// readable by its owner only.
type sessionStore struct{ dir string }

type credentials struct {
	Sessions map[string]storedSession `json:"sessions"`
}

func (s *sessionStore) path() string { return filepath.Join(s.dir, "credentials.json") }

func (s *sessionStore) load() (credentials, error) {
	c := credentials{Sessions: map[string]storedSession{}}
	if s.dir == "" {
		return c, nil
	}
	b, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s is damaged (%v): remove it and log in again", s.path(), err)
	}
	if c.Sessions == nil {
		c.Sessions = map[string]storedSession{}
	}
	return c, nil
}

// get returns the session stored for a control center.
func (s *sessionStore) get(control string) (storedSession, bool) {
	c, err := s.load()
	if err != nil {
		return storedSession{}, false
	}
	st, ok := c.Sessions[control]
	return st, ok && st.Token != ""
}

// update changes the session of a control center (creating it) and
// writes the file.
func (s *sessionStore) update(control string, f func(*storedSession)) error {
	c, err := s.load()
	if err != nil {
		return err
	}
	st := c.Sessions[control]
	f(&st)
	c.Sessions[control] = st
	return s.save(c)
}

// remove forgets the session of a control center.
func (s *sessionStore) remove(control string) error {
	c, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := c.Sessions[control]; !ok {
		return nil
	}
	delete(c.Sessions, control)
	return s.save(c)
}

// save writes the file atomically with mode 0600 in a 0700 directory, so
// a token is never readable by others, not even for an instant.
func (s *sessionStore) save(c credentials) error {
	if s.dir == "" {
		return errors.New("no configuration directory to store the token in (set PROVISIONING_CONFIG_DIR)")
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path())
}
