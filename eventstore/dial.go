package eventstore

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// DialConfig says how to reach an existing NATS server or cluster.
type DialConfig struct {
	// URL is a comma-separated list of servers.
	URL string
	// Name is the connection name servers show in monitoring.
	Name string
	// CredsFile is a NATS credentials file (JWT and nkey seed).
	CredsFile string
	// NkeyFile is an nkey seed file, such as the ClientKeyFile of an
	// embedded server with a listener.
	NkeyFile string
	// TLS: a CA to verify servers with, and a client certificate and key.
	TLSCA, TLSCert, TLSKey string
}

// reconnectOptions keep a connection alive across server restarts and
// leader changes: reconnect forever and buffer publishes meanwhile (the
// message ids make their retries safe).
func reconnectOptions(name string) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(64 << 20),
	}
}

// Dial connects to an existing NATS deployment.
func Dial(cfg DialConfig) (*nats.Conn, error) {
	opts := reconnectOptions(cfg.Name)
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NkeyFile != "" {
		nkey, err := nats.NkeyOptionFromSeed(cfg.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey %s: %w", cfg.NkeyFile, err)
		}
		opts = append(opts, nkey)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", cfg.URL, err)
	}
	return nc, nil
}

// DialInProcess connects to an embedded server without a socket; a
// server with a ClientKey wants it among opts (nats.NkeyOptionFromSeed).
func DialInProcess(srv *server.Server, name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append(append(reconnectOptions(name), opts...), nats.InProcessServer(srv))
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}
