package app_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/eventstore"
)

// By default the embedded NATS server takes no connection from outside
// the process: the instance listens on its two API ports and nothing
// else, and writes no NATS credentials.
func TestEmbeddedNATSListensNowhereByDefault(t *testing.T) {
	if got := app.DefaultConfig().NATSListen; got != "" {
		t.Fatalf("the default NATS listen address is %q, want none", got)
	}
	before := listeningPorts(t)
	cfg := apptest.Config(t)
	cfg.NATSListen = app.DefaultConfig().NATSListen
	in := apptest.Start(t, cfg)
	apis := map[int]bool{port(t, in.OrchestratorURL()): true, port(t, in.ControlURL()): true}
	for p := range listeningPorts(t) {
		if !before[p] && !apis[p] {
			t.Errorf("the instance listens on port %d besides its APIs", p)
		}
	}
	if in.NATSURL() != "" {
		t.Errorf("NATS URL %q without --nats-listen", in.NATSURL())
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, eventstore.ClientKeyFile)); err == nil {
		t.Error("credentials were written for a server nobody can reach")
	}
}

// With --nats-listen the server admits only clients proving the nkey it
// generated into the data directory (mode 0600) on its first start.
func TestEmbeddedNATSListenerRequiresTheGeneratedKey(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.NATSListen = "127.0.0.1:0"
	in := apptest.Start(t, cfg)
	keyPath := filepath.Join(cfg.DataDir, eventstore.ClientKeyFile)
	if in.NATSKeyFile() != keyPath {
		t.Fatalf("key file %q, want %q", in.NATSKeyFile(), keyPath)
	}
	info, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	if nc, err := nats.Connect(in.NATSURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a NATS client without credentials was admitted")
	}
	nc, err := eventstore.Dial(eventstore.DialConfig{URL: in.NATSURL(), NkeyFile: keyPath})
	if err != nil {
		t.Fatalf("the key's holder was refused: %v", err)
	}
	defer nc.Close()
	// What the key opens is what it protects: the streams.
	store, err := eventstore.NewStore(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.JetStream().Stream(t.Context(), "PROV_IAM"); err != nil {
		t.Fatalf("the key's holder cannot reach the streams: %v", err)
	}
}

func port(t *testing.T, rawURL string) int {
	t.Helper()
	i := strings.LastIndexByte(rawURL, ':')
	p, err := strconv.Atoi(rawURL[i+1:])
	if err != nil {
		t.Fatalf("no port in %q", rawURL)
	}
	return p
}

// listeningPorts are the TCP ports this process listens on: the sockets
// among its open files that /proc/net/tcp{,6} shows in state LISTEN.
func listeningPorts(t *testing.T) map[int]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			local := f[1]
			p, err := strconv.ParseInt(local[strings.LastIndexByte(local, ':')+1:], 16, 32)
			if err == nil {
				ports[int(p)] = true
			}
		}
	}
	return ports
}
