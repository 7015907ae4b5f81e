package chaos

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"provisioning/eventstore"
)

// server is the `provisioning serve` under test: one process at a time,
// on one data directory and fixed ports, killed and started again.
type server struct {
	cfg          Config
	dir          string
	orchestrator string // host:port
	control      string
	nats         string
	password     string

	cmd      *exec.Cmd
	exited   chan struct{}
	starts   int
	kills    []time.Time // when each SIGKILL was sent
	recovery []time.Duration
}

func newServer(cfg Config, dir string) (*server, error) {
	s := &server{cfg: cfg, dir: dir, password: "chaos-admin-password"}
	for _, p := range []*string{&s.orchestrator, &s.control, &s.nats} {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		*p = addr
	}
	return s, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

func (s *server) url() string        { return "http://" + s.orchestrator }
func (s *server) controlURL() string { return "http://" + s.control }
func (s *server) natsURL() string    { return "nats://" + s.nats }

// natsKey is the nkey seed file serve generates for its NATS listener.
func (s *server) natsKey() string { return filepath.Join(s.dir, "data", eventstore.ClientKeyFile) }

// start runs serve and waits until it answers /health.
func (s *server) start(ctx context.Context) error {
	s.starts++
	logf, err := os.OpenFile(filepath.Join(s.dir, fmt.Sprintf("serve-%d.log", s.starts)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.cfg.Binary, "serve", "--data-dir", filepath.Join(s.dir, "data"),
		"--orchestrator-addr", s.orchestrator, "--control-addr", s.control, "--nats-listen", s.nats,
		"--sim-speed", strconv.FormatFloat(s.cfg.SimSpeed, 'f', -1, 64), "--job-ack-wait", "2s", "--shutdown-grace", "5s",
		"--workers", strconv.Itoa(s.cfg.Workers), "--sync", s.cfg.Sync,
		"--rate-limit-general", "0", "--rate-limit-batch", "0", "--rate-limit-auth", "0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "PROVISIONING_ADMIN_PASSWORD="+s.password)
	cmd.Stdout, cmd.Stderr = logf, logf
	began := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()
	if err := s.waitHealthy(ctx, 90*time.Second); err != nil {
		return fmt.Errorf("start %d: %w (see %s)", s.starts, err, logf.Name())
	}
	if len(s.kills) > 0 {
		s.recovery = append(s.recovery, time.Since(began))
	}
	return nil
}

func (s *server) waitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get(s.url() + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("serve exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s after %s", s.url(), within)
		}
	}
}

// kill sends SIGKILL: no shutdown, no last snapshot; the simulator
// children die with it (Pdeathsig).
func (s *server) kill() {
	s.kills = append(s.kills, time.Now())
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop shuts serve down gracefully (its last snapshots are written).
func (s *server) stop() error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("serve did not stop within 60s of SIGTERM")
	}
}
