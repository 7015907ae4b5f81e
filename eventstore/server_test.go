package eventstore_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"provisioning/events/eventstest"
	"provisioning/eventstore"
)

// A server with a listener admits only the client that proves the nkey
// in the data directory's key file, which only its owner may read.
func TestListenerAdmitsOnlyTheClientKey(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, eventstore.ClientKeyFile)
	key, err := eventstore.EnsureClientKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	again, err := eventstore.EnsureClientKey(keyPath)
	if err != nil || again.Public != key.Public {
		t.Fatalf("a second start made another key: %v", err)
	}
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0", Sync: "1m", ClientKey: &key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })

	if nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without credentials was admitted")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("refused with %v, want an authorization violation", err)
	}
	other := filepath.Join(dir, "other.nk")
	if _, err := eventstore.EnsureClientKey(other); err != nil {
		t.Fatal(err)
	}
	if nc, err := eventstore.Dial(eventstore.DialConfig{URL: srv.ClientURL(), NkeyFile: other}); err == nil {
		nc.Close()
		t.Fatal("a client with another nkey was admitted")
	}
	nc, err := eventstore.Dial(eventstore.DialConfig{URL: srv.ClientURL(), NkeyFile: keyPath})
	if err != nil {
		t.Fatalf("the key's holder was refused: %v", err)
	}
	nc.Close()
}

// Nothing listens without a client key unless a test asks for it.
func TestListenerWithoutClientKeyIsRefused(t *testing.T) {
	_, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Sync: "1m"})
	if err == nil || !strings.Contains(err.Error(), "client key") {
		t.Fatalf("StartServer with a listener and no key: %v", err)
	}
}

// A key file others may read is treated as leaked and refused.
func TestClientKeyReadableByOthersIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), eventstore.ClientKeyFile)
	if _, err := eventstore.EnsureClientKey(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.ReadClientKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file: %v", err)
	}
}

// Cluster routes authenticate with the secret derived from the client
// key: members given the same key file form a cluster, a server with
// another key cannot join it.
func TestRoutesNeedTheClusterSecret(t *testing.T) {
	dir := t.TempDir()
	key, err := eventstore.EnsureClientKey(filepath.Join(dir, "cluster.nk"))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := eventstore.EnsureClientKey(filepath.Join(dir, "stranger.nk"))
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string, k eventstore.ClientKey, routes ...string) *server.Server {
		srv, err := eventstore.StartServer(eventstore.ServerConfig{Name: name, DataDir: filepath.Join(dir, name), Listen: "127.0.0.1:0",
			Sync: "1m", ClientKey: &k, ClusterName: "c", ClusterListen: "127.0.0.1:0", Routes: routes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		return srv
	}
	first := start("n1", key)
	seed := "nats-route://" + first.ClusterAddr().String()
	intruder := start("intruder", stranger, seed)
	second := start("n2", key, seed)
	eventstest.Eventually(t, 10*time.Second, func() bool { return second.NumRoutes() > 0 && first.NumRoutes() > 0 },
		"members with the same key never formed a route")
	if intruder.NumRoutes() != 0 {
		t.Fatalf("a server with another key joined the cluster (%d routes)", intruder.NumRoutes())
	}
}
