package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"provisioning/eventstore"
)

// natsServer runs one NATS server with JetStream from the nats-server Go
// module: `make cluster` starts three of them as a cluster, so trying a
// clustered deployment needs no downloaded binary. Like serve's embedded
// server it admits only clients proving its nkey, and routes only with
// the secret derived from it.
func natsServer(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg eventstore.ServerConfig
	var routes, keyPath string
	fs.StringVar(&cfg.Name, "name", "n1", "server name (unique in the cluster)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./data/nats", "JetStream storage directory")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:4222", "client address")
	fs.StringVar(&cfg.Sync, "sync", "always", `fsync policy: "always" or an interval`)
	fs.StringVar(&cfg.ClusterName, "cluster-name", "provisioning", "cluster name")
	fs.StringVar(&cfg.ClusterListen, "cluster-listen", "", "route address (empty: not clustered)")
	fs.StringVar(&routes, "routes", "", "comma-separated nats-route:// URLs of the other members")
	fs.StringVar(&keyPath, "client-nkey", "", "nkey seed file clients must prove, created (mode 0600) when missing; routes authenticate with a secret derived from it, so give every member the same file (default: <data-dir>/nats.nk)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if keyPath == "" {
		keyPath = filepath.Join(cfg.DataDir, eventstore.ClientKeyFile)
	}
	key, err := eventstore.EnsureClientKey(keyPath)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	cfg.ClientKey = &key
	if routes != "" {
		cfg.Routes = strings.Split(routes, ",")
	}
	srv, err := eventstore.StartServer(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	fmt.Fprintf(stderr, "nats server %s ready: clients on %s with the nkey in %s\n", cfg.Name, srv.ClientURL(), key.Path)
	<-ctx.Done()
	srv.Shutdown()
	srv.WaitForShutdown()
	return 0
}
