package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"provisioning/secrets"
)

// secretsKey runs `provisioning secrets-key new|rotate|show`: the key
// ring that seals the secrets the streams hold. It never talks to NATS:
// the key must not live there.
func secretsKey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secrets-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `provisioning secrets-key new|rotate|show [--secrets-key-file FILE | --data-dir DIR]

  new     create the key file (mode 0600) if it does not exist
  rotate  put a new key first: new secrets are sealed with it, the old keys
          stay below it to open what they sealed (restart every instance
          with the new file)
  show    print the ids of the keys, the sealing one first

`)
		fs.PrintDefaults()
	}
	path := fs.String("secrets-key-file", "", "the key file (default <data-dir>/secrets.key)")
	dataDir := fs.String("data-dir", "./data", "data directory whose secrets.key is meant")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return 2
	}
	cmd := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *path == "" {
		*path = filepath.Join(*dataDir, secrets.KeyFile)
	}
	var ring *secrets.Keyring
	var err error
	switch cmd {
	case "new":
		var created bool
		ring, created, err = secrets.LoadOrCreate(*path)
		if err == nil && !created {
			fmt.Fprintf(stderr, "%s exists already; nothing changed\n", *path)
		}
	case "rotate":
		ring, err = secrets.Rotate(*path)
	case "show":
		ring, err = secrets.Load(*path)
	default:
		fmt.Fprintf(stderr, "unknown secrets-key command %q\n", cmd)
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: keys %s (%s seals)\n", *path, strings.Join(ring.KeyIDs(), ", "), ring.KeyID())
	return 0
}
