// Package eventstest starts embedded JetStream servers for tests, each on a
// temporary directory and a random loopback port, stopped by tb.Cleanup,
// and offers bounded waits. Its servers admit clients without credentials
// (they live on loopback for one test); the product's never do.
package eventstest

import (
	"context"
	"provisioning/eventstore"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Env is one embedded server with a connected, set-up store.
type Env struct {
	Server *server.Server
	Conn   *nats.Conn
	Store  *eventstore.Store
	Dir    string
}

// Option tunes Start.
type Option func(*eventstore.ServerConfig)

// WithSync sets the server's --sync policy (default: a 1 minute interval,
// tests do not need fsync).
func WithSync(v string) Option { return func(c *eventstore.ServerConfig) { c.Sync = v } }

// WithDir reuses a data directory, to restart a server on its old data.
func WithDir(dir string) Option { return func(c *eventstore.ServerConfig) { c.DataDir = dir } }

// Start runs a server and returns a store connected to it in-process, with
// the streams set up. Everything is stopped when the test ends.
func Start(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	cfg := eventstore.ServerConfig{DataDir: tb.TempDir(), Listen: "127.0.0.1:0", Sync: "1m", Anonymous: true}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := eventstore.StartServer(cfg)
	if err != nil {
		tb.Fatalf("start nats: %v", err)
	}
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	nc, err := eventstore.DialInProcess(srv, tb.Name())
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	st, err := eventstore.NewStore(nc)
	if err != nil {
		tb.Fatalf("store: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Setup(ctx, eventstore.SetupConfig{Replicas: 1}); err != nil {
		tb.Fatalf("setup: %v", err)
	}
	return &Env{Server: srv, Conn: nc, Store: st, Dir: cfg.DataDir}
}

// URL is the server's client URL on loopback.
func (e *Env) URL() string { return e.Server.ClientURL() }

// Eventually polls cond every few milliseconds until it returns true or
// the deadline passes, then fails the test with msg.
func Eventually(tb testing.TB, within time.Duration, cond func() bool, msg string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: "+msg, append([]any{within}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
