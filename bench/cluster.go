package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
)

// Cluster is three NATS servers with JetStream clustered on loopback, for
// the figures of the three-node column.
type Cluster struct {
	servers []*server.Server
}

// StartCluster starts a three-node cluster under dir and waits until
// JetStream answers.
func StartCluster(ctx context.Context, dir string) (*Cluster, error) {
	c := &Cluster{}
	var seed string
	for i := 1; i <= 3; i++ {
		cfg := events.ServerConfig{Name: fmt.Sprintf("b%d", i), DataDir: filepath.Join(dir, fmt.Sprintf("n%d", i)),
			Listen: "127.0.0.1:0", Sync: "1m", ClusterName: "bench", ClusterListen: "127.0.0.1:0"}
		if seed != "" {
			cfg.Routes = []string{"nats://" + seed}
		}
		srv, err := events.StartServer(cfg)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.servers = append(c.servers, srv)
		if i == 1 {
			seed = srv.ClusterAddr().String()
		}
	}
	nc, err := events.Dial(events.DialConfig{URL: c.URLs(), Name: "bench-ready"})
	if err != nil {
		c.Stop()
		return nil, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(time.Minute)
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("bench cluster not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URLs are the client URLs, comma-separated.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// Stop shuts every server down.
func (c *Cluster) Stop() {
	for _, s := range c.servers {
		s.Shutdown()
	}
	for _, s := range c.servers {
		s.WaitForShutdown()
	}
}
