package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"provisioning/eventstore"
	"strings"
)

// natsServer runs one NATS server with JetStream from the nats-server Go
// module: `make cluster` starts three of them as a cluster, so trying a
// clustered deployment needs no downloaded binary.
func natsServer(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg eventstore.ServerConfig
	var routes string
	fs.StringVar(&cfg.Name, "name", "n1", "server name (unique in the cluster)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./data/nats", "JetStream storage directory")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:4222", "client address")
	fs.StringVar(&cfg.Sync, "sync", "always", `fsync policy: "always" or an interval`)
	fs.StringVar(&cfg.ClusterName, "cluster-name", "provisioning", "cluster name")
	fs.StringVar(&cfg.ClusterListen, "cluster-listen", "", "route address (empty: not clustered)")
	fs.StringVar(&routes, "routes", "", "comma-separated nats-route:// URLs of the other members")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if routes != "" {
		cfg.Routes = strings.Split(routes, ",")
	}
	srv, err := eventstore.StartServer(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	fmt.Fprintf(stderr, "nats server %s ready: clients on %s\n", cfg.Name, srv.ClientURL())
	<-ctx.Done()
	srv.Shutdown()
	srv.WaitForShutdown()
	return 0
}
