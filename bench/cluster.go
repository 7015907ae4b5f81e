package bench

import (
	"context"
	"provisioning/eventstore"
	"time"
)

// StartCluster starts three NATS servers with JetStream clustered on
// loopback under dir, for the figures of the three-node column, and waits
// up to a minute until JetStream answers. The caller stops it with
// Shutdown.
func StartCluster(ctx context.Context, dir string) (*eventstore.Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return eventstore.StartCluster(ctx, 3, dir)
}
