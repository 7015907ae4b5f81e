package eventstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// DataDir holds JetStream's files (under DataDir/jetstream).
	DataDir string
	// Listen is the client address, host:port. Empty means no TCP
	// listener: only in-process connections. Port 0 picks a free port.
	Listen string
	// ClientKey is the nkey every client must prove, in-process ones too;
	// with it, cluster routes authenticate with its RouteSecret. A server
	// with a listener and no ClientKey is refused unless Anonymous.
	ClientKey *ClientKey
	// Anonymous admits clients and routes without credentials: for tests
	// and benchmarks on loopback, never for a server of the product.
	Anonymous bool
	// Sync is "always" (fsync every write) or a duration between fsyncs.
	Sync string
	// MaxPayload bounds one message (default 8 MiB: a batch of 10,000
	// operations is one event).
	MaxPayload int32
	// MaxStore bounds JetStream's file storage in bytes (0: the
	// server's default, a share of the disk). Appends past it fail with
	// ErrStorageFull.
	MaxStore int64
	// Name of the server; ServerName in cluster setups.
	Name string
	// Cluster makes the server a member of a NATS cluster (tests and
	// `make cluster`): it listens for routes on ClusterListen and dials
	// Routes.
	ClusterName   string
	ClusterListen string
	Routes        []string
}

// routeUser is the user cluster routes authenticate as.
const routeUser = "route"

// SyncPolicy parses a --sync value: "always", or a Go duration.
func SyncPolicy(v string) (always bool, interval time.Duration, err error) {
	if v == "" || v == "always" {
		return true, 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("sync %q: want \"always\" or a positive duration like 1s", v)
	}
	return false, d, nil
}

// StartServer starts an embedded NATS server with JetStream on file storage
// and waits until it accepts connections. The caller owns it and stops it
// with Shutdown and WaitForShutdown.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	always, interval, err := SyncPolicy(cfg.Sync)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName:        cfg.Name,
		JetStream:         true,
		StoreDir:          cfg.DataDir,
		SyncAlways:        always,
		SyncInterval:      interval,
		MaxPayload:        cfg.MaxPayload,
		JetStreamMaxStore: cfg.MaxStore,
		NoSigs:            true,
		NoLog:             true,
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	if (cfg.Listen != "" || cfg.ClusterListen != "") && cfg.ClientKey == nil && !cfg.Anonymous {
		return nil, errors.New("start nats server: a listener needs a client key (anyone who reaches it could read and write every stream)")
	}
	if cfg.ClientKey != nil {
		opts.Nkeys = []*server.NkeyUser{{Nkey: cfg.ClientKey.Public}}
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.ClusterListen != "" {
		host, port, err := splitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster listen %q: %w", cfg.ClusterListen, err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: host, Port: port}
		opts.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
		if cfg.ClientKey != nil {
			opts.Cluster.Username, opts.Cluster.Password = routeUser, cfg.ClientKey.RouteSecret
			for _, u := range opts.Routes {
				u.User = url.UserPassword(routeUser, cfg.ClientKey.RouteSecret)
			}
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("start nats server: not ready after 30s (is %s writable and the port free?)", cfg.DataDir)
	}
	return srv, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}
