package eventstest

import (
	"context"
	"provisioning/eventstore"
	"testing"
	"time"
)

// Cluster is a NATS cluster of embedded servers on loopback: an
// eventstore.Cluster (Servers, Dir, URLs, Leader, Shutdown) with test helpers.
type Cluster struct {
	*eventstore.Cluster
}

// StartCluster starts n clustered servers with JetStream on random
// loopback ports under a temporary directory and waits up to 30 seconds
// until JetStream answers with a meta leader. They are shut down when the
// test ends.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := eventstore.StartCluster(ctx, n, tb.TempDir())
	if err != nil {
		tb.Fatalf("start cluster: %v", err)
	}
	tb.Cleanup(c.Shutdown)
	return &Cluster{Cluster: c}
}

// WaitReady waits until JetStream answers through the running servers,
// failing the test after within.
func (c *Cluster) WaitReady(tb testing.TB, within time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := c.Cluster.WaitReady(ctx); err != nil {
		tb.Fatalf("after %s: %v", within, err)
	}
}
