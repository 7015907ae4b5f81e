package eventstest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
)

// Cluster is a NATS cluster of embedded servers on loopback.
type Cluster struct {
	Servers []*server.Server
	Dir     string
	name    string
}

// StartCluster starts n clustered servers with JetStream on random
// loopback ports and waits until JetStream answers with a meta leader.
// They are shut down when the test ends.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{Dir: tb.TempDir(), name: "test-" + events.NewID()[18:]}
	var seed string
	for i := 0; i < n; i++ {
		c.Servers = append(c.Servers, c.startNode(tb, i, seed))
		if i == 0 {
			seed = c.Servers[0].ClusterAddr().String()
		}
	}
	tb.Cleanup(c.Shutdown)
	c.WaitReady(tb, 30*time.Second)
	return c
}

func (c *Cluster) startNode(tb testing.TB, i int, seed string) *server.Server {
	tb.Helper()
	cfg := events.ServerConfig{
		Name:          fmt.Sprintf("n%d", i+1),
		DataDir:       filepath.Join(c.Dir, fmt.Sprintf("n%d", i+1)),
		Listen:        "127.0.0.1:0",
		Sync:          "1m",
		ClusterName:   c.name,
		ClusterListen: "127.0.0.1:0",
	}
	if seed != "" {
		cfg.Routes = []string{"nats://" + seed}
	}
	srv, err := events.StartServer(cfg)
	if err != nil {
		tb.Fatalf("start node %d: %v", i+1, err)
	}
	return srv
}

// URLs is the comma-separated client URLs of the running servers.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.Servers {
		if s.Running() {
			urls = append(urls, s.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// WaitReady waits until JetStream answers through the cluster.
func (c *Cluster) WaitReady(tb testing.TB, within time.Duration) {
	tb.Helper()
	nc, err := events.Dial(events.DialConfig{URL: c.URLs(), Name: "ready-check"})
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	Eventually(tb, within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	}, "the JetStream cluster never became ready")
}

// Leader returns the index of the server leading a stream, or -1.
func (c *Cluster) Leader(stream string) int {
	for i, s := range c.Servers {
		if s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
	}
	for _, s := range c.Servers {
		s.WaitForShutdown()
	}
}
