// Package app is the composition root: it wires the event store, the
// views, the executors and both APIs into one running instance with a
// clear lifecycle (Start, then Close in reverse order). cmd/provisioning
// parses flags into a Config and calls it; end-to-end tests start real
// instances with it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"provisioning/events"
	"provisioning/executors"
	"provisioning/fanout"
	"provisioning/handlers"
	"provisioning/projections"
	"provisioning/webhooks"
)

// Config is everything an instance needs. DefaultConfig fills it.
type Config struct {
	DataDir string
	// NATSURL, when set, uses an existing NATS deployment instead of the
	// embedded server; NATSListen is the embedded server's client address.
	NATSURL                       string
	NATSCreds                     string
	NATSCA, NATSCert, NATSKey     string
	NATSListen                    string
	Replicas                      int
	Sync                          string
	OrchestratorAddr, ControlAddr string
	CLI                           []string
	Workers                       int
	JobAckWait                    time.Duration
	MaxAttempts                   int
	TaskTimeout                   time.Duration
	KillGrace, ShutdownGrace      time.Duration
	SimSpeed                      float64
	SimFail                       string
	SnapshotEvery                 int
	SnapshotInterval              time.Duration
	// WebSocket tunes /ws; WSWindow is how many recent events the hub
	// keeps (and a client may lag before it is cut off).
	WebSocket handlers.WebSocket
	WSWindow  int
	// Webhooks is the [webhooks] table of the config file.
	Webhooks webhooks.Config
}

// DefaultConfig is the configuration of `provisioning serve` without
// flags.
func DefaultConfig() Config {
	exe, err := os.Executable()
	if err != nil {
		exe = "provisioning"
	}
	return Config{
		DataDir:          "./data",
		NATSListen:       "127.0.0.1:4222",
		Replicas:         1,
		Sync:             "always",
		OrchestratorAddr: ":9090",
		ControlAddr:      ":9080",
		CLI:              []string{exe, "simulate"},
		Workers:          8,
		JobAckWait:       30 * time.Second,
		MaxAttempts:      3,
		TaskTimeout:      time.Hour,
		KillGrace:        5 * time.Second,
		ShutdownGrace:    30 * time.Second,
		SimSpeed:         1,
		SnapshotEvery:    10000,
		SnapshotInterval: 30 * time.Second,
		WSWindow:         fanout.DefaultWindow,
		Webhooks:         webhooks.DefaultConfig(),
	}
}

// Instance is one running `provisioning serve`.
type Instance struct {
	cfg      Config
	log      *slog.Logger
	registry *prometheus.Registry

	nats  *server.Server // nil with NATSURL
	conn  *nats.Conn
	store *events.Store
	view  *projections.Runner
	tasks *projections.Tasks
	pool  *executors.Pool
	hub   *fanout.Hub
	hooks *webhooks.Service

	orchestrator, control *http.Server
	orchestratorAddr      net.Addr

	cancel   context.CancelFunc // stops background work
	stopJob  context.CancelFunc // stops the executors (graceful)
	execDone chan struct{}      // closed when the executors have stopped
	wg       sync.WaitGroup
	errs     chan error
}

// Start brings an instance up: NATS, streams, views, executors, then the
// APIs. It returns once the APIs listen; views catch up in the background
// (reads wait for them).
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Instance, error) {
	in := &Instance{cfg: cfg, log: log, registry: prometheus.NewRegistry(), errs: make(chan error, 8)}
	in.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := in.start(ctx); err != nil {
		in.Close(context.Background())
		return nil, err
	}
	return in, nil
}

func (in *Instance) start(ctx context.Context) error {
	if err := in.connect(); err != nil {
		return err
	}
	store, err := events.NewStore(in.conn)
	if err != nil {
		return err
	}
	in.store = store
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := store.Setup(setupCtx, events.SetupConfig{Replicas: in.cfg.Replicas}); err != nil {
		return err
	}
	snaps, err := projections.OpenSnapshots(setupCtx, store)
	if err != nil {
		return err
	}
	in.tasks = projections.NewTasks()
	registry := webhooks.NewRegistry()
	in.view = projections.NewRunner(store, events.EventsStream, snaps, in.log, in.tasks, registry)
	if in.cfg.SnapshotEvery > 0 {
		in.view.SnapshotEvery = in.cfg.SnapshotEvery
	}
	if in.cfg.SnapshotInterval > 0 {
		in.view.SnapshotInterval = in.cfg.SnapshotInterval
	}
	in.pool = executors.NewPool(store, executors.Config{
		CLI: in.cfg.CLI, Env: in.childEnv(), Workers: in.cfg.Workers, AckWait: in.cfg.JobAckWait,
		MaxAttempts: in.cfg.MaxAttempts, DefaultTimeout: in.cfg.TaskTimeout, KillGrace: in.cfg.KillGrace,
		ShutdownGrace: in.cfg.ShutdownGrace,
	}, nil, in.log, in.registry)

	in.hub = fanout.NewHub(store, in.cfg.WSWindow)
	in.hooks, err = webhooks.New(store, registry, in.view, in.cfg.Webhooks, in.log, in.registry)
	if err != nil {
		return err
	}
	if in.cfg.Webhooks.On() {
		// Before anything is appended: the dispatcher's consumer starts
		// with the events stored after its creation.
		if err := in.hooks.Setup(setupCtx); err != nil {
			return err
		}
	}

	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancelBG
	in.goRun("projections", func() error { return in.view.Run(bg) })
	in.goRun("websocket hub", func() error { return in.hub.Run(bg) })
	in.goRun("webhooks", func() error { return in.hooks.Run(bg) })
	jobs, stopJobs := context.WithCancel(bg)
	in.stopJob = stopJobs
	in.execDone = make(chan struct{})
	in.goRun("executors", func() error { defer close(in.execDone); return in.pool.Run(jobs) })
	return in.serve()
}

func (in *Instance) connect() error {
	if in.cfg.NATSURL != "" {
		nc, err := events.Dial(events.DialConfig{URL: in.cfg.NATSURL, Name: "provisioning", CredsFile: in.cfg.NATSCreds,
			TLSCA: in.cfg.NATSCA, TLSCert: in.cfg.NATSCert, TLSKey: in.cfg.NATSKey})
		if err != nil {
			return err
		}
		in.conn = nc
		return nil
	}
	if err := os.MkdirAll(in.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	srv, err := events.StartServer(events.ServerConfig{DataDir: filepath.Join(in.cfg.DataDir, "nats"), Listen: in.cfg.NATSListen, Sync: in.cfg.Sync})
	if err != nil {
		return err
	}
	in.nats = srv
	nc, err := events.DialInProcess(srv, "provisioning")
	if err != nil {
		return err
	}
	in.conn = nc
	return nil
}

// childEnv is the CLI's environment: ours without our own secrets, plus
// the simulator's settings.
func (in *Instance) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROVISIONING_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"PROVISIONING_SIM_STATE="+filepath.Join(in.cfg.DataDir, "simulator", "state.json"),
		fmt.Sprintf("PROVISIONING_SIM_SPEED=%g", in.cfg.SimSpeed))
	if in.cfg.SimFail != "" {
		env = append(env, "PROVISIONING_SIM_FAIL="+in.cfg.SimFail)
	}
	return env
}

func (in *Instance) serve() error {
	orch := &handlers.Orchestrator{
		Store: in.store, Tasks: in.tasks, View: in.view, CLI: strings.Join(in.cfg.CLI, " "),
		TaskTimeout: in.cfg.TaskTimeout, Log: in.log, Registry: in.registry,
		Hub: in.hub, WebSocket: in.cfg.WebSocket, Webhooks: in.hooks,
	}
	ln, err := net.Listen("tcp", in.cfg.OrchestratorAddr)
	if err != nil {
		return fmt.Errorf("orchestrator listen %s: %w", in.cfg.OrchestratorAddr, err)
	}
	in.orchestratorAddr = ln.Addr()
	in.orchestrator = newHTTPServer(orch.Handler())
	in.goRun("orchestrator api", func() error {
		if err := in.orchestrator.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	in.log.Info("orchestrator listening", "addr", ln.Addr().String())
	return nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// goRun runs fn as a part of the instance; its error ends up in Done.
func (in *Instance) goRun(name string, fn func() error) {
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		if err := fn(); err != nil {
			in.log.Error("component stopped", "component", name, "err", err)
			select {
			case in.errs <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// Errors delivers the error of a component that stopped on its own.
func (in *Instance) Errors() <-chan error { return in.errs }

// OrchestratorURL is the base URL of the orchestrator API.
func (in *Instance) OrchestratorURL() string { return "http://" + in.orchestratorAddr.String() }

// Store is the instance's event store.
func (in *Instance) Store() *events.Store { return in.store }

// Webhooks is the instance's webhook service.
func (in *Instance) Webhooks() *webhooks.Service { return in.hooks }

// Tasks is the instance's task view.
func (in *Instance) Tasks() *projections.Tasks { return in.tasks }

// Close stops the instance in reverse order of start: the APIs stop taking
// requests, the executors finish or hand back their jobs, the views write
// a last snapshot, then NATS goes.
func (in *Instance) Close(ctx context.Context) error {
	var errs []error
	for _, srv := range []*http.Server{in.orchestrator, in.control} {
		if srv == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if in.stopJob != nil {
		// The executors' grace runs first; the views keep folding their
		// final events meanwhile.
		in.stopJob()
		<-in.execDone
	}
	if in.cancel != nil {
		in.cancel()
	}
	in.wg.Wait()
	if in.conn != nil {
		_ = in.conn.Drain()
		in.conn.Close()
	}
	if in.nats != nil {
		in.nats.Shutdown()
		in.nats.WaitForShutdown()
	}
	return errors.Join(errs...)
}
