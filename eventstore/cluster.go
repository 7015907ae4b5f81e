package eventstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"provisioning/events"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a NATS cluster of embedded servers with JetStream on loopback,
// for tests and benchmarks. Node i (from 1) is named "n<i>" and keeps its
// JetStream files under Dir/n<i>.
type Cluster struct {
	// Servers are the nodes in start order. A test may shut one down
	// (say the Leader of a stream) to force an election; URLs and Leader
	// skip the nodes that no longer run.
	Servers []*server.Server
	Dir     string
	name    string
}

// StartCluster starts n clustered servers under dir on random loopback
// ports, each routing to the first, and waits until JetStream answers
// through the cluster with a meta leader, for as long as ctx allows. On an
// error every server started is shut down. The caller stops the cluster
// with Shutdown.
func StartCluster(ctx context.Context, n int, dir string) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("start cluster: %d nodes, want at least 1", n)
	}
	c := &Cluster{Dir: dir, name: "cluster-" + events.NewID()[18:]}
	var seed string
	for i := 1; i <= n; i++ {
		cfg := ServerConfig{
			Name:          fmt.Sprintf("n%d", i),
			DataDir:       filepath.Join(dir, fmt.Sprintf("n%d", i)),
			Listen:        "127.0.0.1:0",
			Sync:          "1m",
			ClusterName:   c.name,
			ClusterListen: "127.0.0.1:0",
			// A cluster for tests and benchmarks, on loopback for their
			// duration.
			Anonymous: true,
		}
		if seed != "" {
			cfg.Routes = []string{"nats://" + seed}
		}
		srv, err := StartServer(cfg)
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("start cluster node %d: %w", i, err)
		}
		c.Servers = append(c.Servers, srv)
		if i == 1 {
			seed = srv.ClusterAddr().String()
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
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

// WaitReady polls until JetStream answers through the running servers
// (AccountInfo succeeds), or ctx ends.
func (c *Cluster) WaitReady(ctx context.Context) error {
	nc, err := Dial(DialConfig{URL: c.URLs(), Name: "cluster-ready"})
	if err != nil {
		return fmt.Errorf("cluster ready: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("cluster ready: %w", err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the JetStream cluster never became ready: %w", errors.Join(ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// Leader returns the index in Servers of the running server that leads a
// stream, or -1.
func (c *Cluster) Leader(stream string) int {
	for i, s := range c.Servers {
		if s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// Shutdown stops every server and waits until they are down. Servers
// already shut down are fine, and so is calling it twice.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
	}
	for _, s := range c.Servers {
		s.WaitForShutdown()
	}
}
