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
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/executors"
	"provisioning/handlers"
	"provisioning/handlers/orchestrator"
	"provisioning/hub"
	"provisioning/monitor"
	"provisioning/projections"
	"provisioning/ratelimit"
	"provisioning/secrets"
	"provisioning/webhooks"
	"provisioning/workflow"
)

// Config is everything an instance needs. DefaultConfig fills it.
type Config struct {
	DataDir string
	// NATSURL, when set, uses an existing NATS deployment instead of the
	// embedded server, authenticating with NATSCreds or NATSNkey.
	NATSURL                   string
	NATSCreds, NATSNkey       string
	NATSCA, NATSCert, NATSKey string
	// NATSListen is the embedded server's client address. Empty (the
	// default): no listener at all, the instance connects in-process.
	// Given: clients must prove the nkey generated into
	// DataDir/nats.nk on the first start.
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
	// SecretsKeyFile is the key ring that seals the secrets the streams
	// hold; empty: DataDir/secrets.key. Created (0600) when missing.
	// Every instance of a deployment must be given the same file.
	SecretsKeyFile string
	// SettingsRoot, when set, admits absolute settings paths inside it
	// (see workflow.Rules); the API and the executors check with it.
	SettingsRoot     string
	SnapshotEvery    int
	SnapshotInterval time.Duration
	// IdempotencyWindow is how long an Idempotency-Key's answer is kept.
	IdempotencyWindow time.Duration
	// RateLimits are enforced on both APIs, counted in JetStream so they
	// hold across instances; TrustedProxies may set X-Forwarded-For.
	RateLimits     handlers.RateLimits
	TrustedProxies []netip.Prefix
	// WSAllowedOrigins are origin host patterns browsers may open the
	// WebSocket from besides this server's own; WSPing its keep-alive.
	WSAllowedOrigins []string
	WSPing           time.Duration
	// WSQueue bounds the events waiting for one WebSocket client; a
	// client that lets it fill is disconnected.
	WSQueue int
	// CORSOrigins are the origins (besides the dashboard's own) whose
	// pages may call both APIs and open the WebSocket.
	CORSOrigins []string
	// PublicOrchestratorURL is the orchestrator's URL as browsers reach it
	// (behind a proxy); empty: the dashboard page's host name with the
	// orchestrator's port.
	PublicOrchestratorURL string
	// Runner runs the executors' jobs; nil runs CLI as processes (what
	// serve does). Benchmarks set it.
	Runner executors.Runner

	IdentityConfig
	// Webhooks is the [webhooks] table of the config file.
	Webhooks webhooks.Config
	// AcceptEventLoss lets an instance start on an event store that lost
	// acknowledged events (restoring a backup is the other way out): the
	// loss is logged and recorded, the views rebuilt from what is left.
	AcceptEventLoss bool
	// DeliveryRetention is how long webhook delivery records are kept
	// (PROV_DELIVERIES; 0: 30 days).
	DeliveryRetention time.Duration
	// ReadWait bounds how long a read waits for the views to catch up with
	// the stream before answering 503.
	ReadWait time.Duration
}

// DefaultConfig is the configuration of `provisioning serve` without
// flags.
func DefaultConfig() Config {
	exe, err := os.Executable()
	if err != nil {
		exe = "provisioning"
	}
	return Config{
		DataDir:           "./data",
		Replicas:          1,
		Sync:              "always",
		OrchestratorAddr:  ":9090",
		ControlAddr:       ":9080",
		CLI:               []string{exe, "simulate"},
		Workers:           8,
		JobAckWait:        30 * time.Second,
		MaxAttempts:       3,
		TaskTimeout:       time.Hour,
		KillGrace:         5 * time.Second,
		ShutdownGrace:     30 * time.Second,
		SimSpeed:          1,
		SnapshotEvery:     1_000_000,
		SnapshotInterval:  time.Minute,
		IdempotencyWindow: 24 * time.Hour,
		RateLimits:        handlers.DefaultRateLimits(),
		IdentityConfig:    DefaultIdentity(),
		Webhooks:          webhooks.DefaultConfig(),
	}
}

// Instance is one running `provisioning serve`.
type Instance struct {
	cfg      Config
	log      *slog.Logger
	registry *prometheus.Registry
	// id names this instance's executors and coordinators in events.
	id string

	secrets *secrets.Keyring
	nats    *server.Server        // nil with NATSURL
	natsKey *eventstore.ClientKey // the listener's client key, nil without one
	conn    *nats.Conn
	store   *eventstore.Store
	view    *projections.Runner
	// deliveries folds PROV_DELIVERIES into the webhooks' delivery log.
	deliveries *projections.Runner
	tasks      *projections.Tasks
	pool       *executors.Pool
	hooks      *webhooks.Service

	idempotency *handlers.Idempotency
	counters    *ratelimit.Store
	hub         *hub.Hub
	batches     *projections.Batches
	coord       *executors.Coordinator
	load        *monitor.Sampler

	orchestrator, control *http.Server
	orchestratorAddr      net.Addr
	identity              identity
	recovery              recoveryParts

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
	in := &Instance{cfg: cfg, log: log, registry: prometheus.NewRegistry(), id: executors.NewInstanceID(), errs: make(chan error, 8)}
	in.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := in.start(ctx); err != nil {
		in.Close(context.Background())
		return nil, err
	}
	return in, nil
}

func (in *Instance) start(ctx context.Context) error {
	if err := in.openSecrets(); err != nil {
		return err
	}
	if err := in.connect(ctx); err != nil {
		return err
	}
	store, err := eventstore.NewStore(in.conn)
	if err != nil {
		return err
	}
	in.store = store
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// A cluster still electing its JetStream leader, or another instance
	// creating the same streams at the same moment, can leave a request
	// unanswered: every step is idempotent, so retry them all.
	var snaps *projections.Snapshots
	if err := retry(setupCtx, in.log, "set up streams and buckets", func(ctx context.Context) error {
		var err error
		snaps, err = in.provision(ctx)
		return err
	}); err != nil {
		return err
	}
	in.tasks = projections.NewTasks()
	in.batches = projections.NewBatches()
	registry := webhooks.NewRegistry()
	in.view = in.newRunner(events.EventsStream, snaps, in.tasks, in.batches, registry)
	in.registry.MustRegister(in.view.Collector(), in.view.FailuresCollector(), executors.NewQueueCollector(store),
		projections.ViewCollector{Tasks: in.tasks, Batches: in.batches})
	in.pool = executors.NewPool(store, executors.Config{
		ID: in.id, CLI: in.cfg.CLI, Env: in.childEnv(), Workers: in.cfg.Workers, AckWait: in.cfg.JobAckWait,
		MaxAttempts: in.cfg.MaxAttempts, DefaultTimeout: in.cfg.TaskTimeout, KillGrace: in.cfg.KillGrace,
		ShutdownGrace: in.cfg.ShutdownGrace, Rules: in.rules(),
	}, in.cfg.Runner, in.log, in.registry)

	in.coord = executors.NewCoordinator(store, in.batches, executors.CoordinatorConfig{
		ID: in.id, CLI: strings.Join(in.cfg.CLI, " "), TaskTimeout: in.cfg.TaskTimeout,
	}, in.log, in.registry)
	in.view.OnApply(in.coord.Observe)
	if err := os.MkdirAll(in.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if in.load, err = monitor.New(in.cfg.DataDir, 0); err != nil {
		return err
	}
	registry.DeliveryLog().Retention = in.cfg.DeliveryRetention
	in.deliveries = in.newRunner(events.DeliveriesStream, snaps, registry.DeliveryLog())
	in.registry.MustRegister(in.deliveries.Collector(), in.deliveries.FailuresCollector())
	in.hooks, err = webhooks.New(store, in.secrets, registry, webhooks.Views{Events: in.view, Deliveries: in.deliveries}, in.cfg.Webhooks, in.log, in.registry)
	if err != nil {
		return err
	}
	if in.cfg.Webhooks.On() {
		// Before anything is appended: the dispatcher's consumer starts
		// with the events stored after its creation.
		if err := retry(setupCtx, in.log, "set up webhooks", in.hooks.Setup); err != nil {
			return err
		}
	}

	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancelBG
	in.wireRecovery(bg)
	if err := in.checkLoss(setupCtx, in.view, in.deliveries); err != nil {
		return err
	}
	in.goRun("projections", func() error { return in.view.Run(bg) })
	in.goRun("webhook delivery log", func() error { return in.deliveries.Run(bg) })
	in.hub = hub.New(store, in.log, 10_000, in.registry)
	if in.cfg.WSQueue > 0 {
		in.hub.QueueSize = in.cfg.WSQueue
	}
	in.goRun("event hub", func() error { return in.hub.Run(bg) })
	in.goRun("batch coordinator", func() error { return in.coord.Run(bg, in.view.Ready()) })
	in.goRun("monitor", func() error { return in.load.Run(bg) })
	in.goRun("webhooks", func() error { return in.hooks.Run(bg) })
	jobs, stopJobs := context.WithCancel(bg)
	in.stopJob = stopJobs
	in.execDone = make(chan struct{})
	if in.cfg.Workers > 0 {
		in.goRun("executors", func() error { defer close(in.execDone); return in.pool.Run(jobs) })
	} else {
		// An API-only instance: other instances run the jobs.
		close(in.execDone)
	}
	if err := in.startIdentity(ctx, bg, snaps); err != nil {
		return err
	}
	return in.serve()
}

// newRunner returns a runner folding stream into views, snapshotting as
// the configuration says.
func (in *Instance) newRunner(stream events.Stream, snaps *projections.Snapshots, views ...projections.Projection) *projections.Runner {
	r := projections.NewRunner(in.store, stream, snaps, in.log, views...)
	if in.cfg.SnapshotEvery > 0 {
		r.SnapshotEvery = in.cfg.SnapshotEvery
	}
	if in.cfg.SnapshotInterval > 0 {
		r.SnapshotInterval = in.cfg.SnapshotInterval
	}
	return r
}

// provision creates or updates every stream, bucket and object store.
func (in *Instance) provision(ctx context.Context) (*projections.Snapshots, error) {
	if err := in.store.Setup(ctx, eventstore.SetupConfig{Replicas: in.cfg.Replicas, DeliveriesMaxAge: in.cfg.DeliveryRetention}); err != nil {
		return nil, err
	}
	snaps, err := projections.OpenSnapshots(ctx, in.store)
	if err != nil {
		return nil, err
	}
	if in.recovery.objects, err = projections.OpenCheckpointObjects(ctx, in.store); err != nil {
		return nil, err
	}
	idem, err := in.store.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: handlers.IdempotencyBucket,
		Description: "answers of POSTs with an Idempotency-Key", TTL: in.cfg.IdempotencyWindow})
	if err != nil {
		return nil, err
	}
	in.idempotency = &handlers.Idempotency{KV: idem, Scope: handlers.Actor}
	maxWindow := in.cfg.RateLimits.MaxWindow()
	if in.counters, err = ratelimit.Open(ctx, in.store, maxWindow); err != nil {
		return nil, err
	}
	return snaps, nil
}

func (in *Instance) connect(ctx context.Context) error {
	if in.cfg.NATSURL != "" {
		// Servers may still be starting (a cluster started together with
		// its clients): retry for a minute before giving up.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return retry(ctx, in.log, "connect to NATS", func(context.Context) error {
			nc, err := eventstore.Dial(eventstore.DialConfig{URL: in.cfg.NATSURL, Name: "provisioning", CredsFile: in.cfg.NATSCreds,
				NkeyFile: in.cfg.NATSNkey, TLSCA: in.cfg.NATSCA, TLSCert: in.cfg.NATSCert, TLSKey: in.cfg.NATSKey})
			in.conn = nc
			return err
		})
	}
	if err := in.lockDataDir(); err != nil {
		return err
	}
	var auth []nats.Option
	if in.cfg.NATSListen != "" {
		key, err := eventstore.EnsureClientKey(filepath.Join(in.cfg.DataDir, eventstore.ClientKeyFile))
		if err != nil {
			return err
		}
		in.natsKey = &key
		nkey, err := nats.NkeyOptionFromSeed(key.Path)
		if err != nil {
			return fmt.Errorf("nats client key: %w", err)
		}
		auth = append(auth, nkey)
	}
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: filepath.Join(in.cfg.DataDir, "nats"),
		Listen: in.cfg.NATSListen, ClientKey: in.natsKey, Sync: in.cfg.Sync})
	if err != nil {
		return err
	}
	in.nats = srv
	if in.natsKey != nil {
		in.log.Info("NATS listening; clients authenticate with the nkey seed file", "url", srv.ClientURL(), "nkey_file", in.natsKey.Path)
	}
	nc, err := eventstore.DialInProcess(srv, "provisioning", auth...)
	if err != nil {
		return err
	}
	in.conn = nc
	return nil
}

// openSecrets reads the key ring that seals secrets, creating it on a
// first start. Whether it is the deployment's ring is checked once the
// identity views hold the sealed signing key (checkSecrets).
func (in *Instance) openSecrets() error {
	path := in.cfg.SecretsKeyFile
	if path == "" {
		path = filepath.Join(in.cfg.DataDir, secrets.KeyFile)
	}
	ring, created, err := secrets.LoadOrCreate(path)
	if err != nil {
		return err
	}
	if created {
		in.log.Info("created the secrets key file: back it up apart from NATS and give every instance of this deployment the same file (--secrets-key-file)",
			"path", path, "key_id", ring.KeyID())
	}
	in.secrets = ring
	return nil
}

// rules are the validation choices of the operator.
func (in *Instance) rules() workflow.Rules { return workflow.Rules{SettingsRoot: in.cfg.SettingsRoot} }

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
	ln, err := net.Listen("tcp", in.cfg.OrchestratorAddr)
	if err != nil {
		return fmt.Errorf("orchestrator listen %s: %w", in.cfg.OrchestratorAddr, err)
	}
	in.orchestratorAddr = ln.Addr()
	// The control center (and its dashboard, which needs the orchestrator's
	// port) first: "orchestrator listening" then means both APIs are up.
	if err := in.serveControl(); err != nil {
		ln.Close()
		return err
	}
	orch := &orchestrator.API{
		Store: in.store, Tasks: in.tasks, View: in.view, CLI: strings.Join(in.cfg.CLI, " "),
		TaskTimeout: in.cfg.TaskTimeout, Rules: in.rules(), Log: in.log, Registry: in.registry, Idempotency: in.idempotency,
		Hub: in.hub, WSOrigins: in.cfg.WSAllowedOrigins, WSPing: in.cfg.WSPing, CORS: in.cors(),
		Access:  in.identity.access,
		Batches: in.batches, Load: in.load, Health: in.healthChecks(),
		Webhooks: in.hooks, ReadWait: in.cfg.ReadWait,
	}
	orch.Recovery = in.recoveryAPI()
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

// healthChecks are the components of GET /state/system/health.
func (in *Instance) healthChecks() map[string]orchestrator.HealthCheck {
	return map[string]orchestrator.HealthCheck{
		"storage":              in.storageCheck(in.view, in.deliveries, in.identity.iamView, in.identity.auditView),
		"batch_coordinator":    in.coordinatorCheck(in.coord.Health),
		"rollback_coordinator": in.coordinatorCheck(in.recovery.coord.Health),
		"monitoring":           func(context.Context) (string, string) { return in.load.Health() },
	}
}

// coordinatorCheck is the health component of a coordinator: its own
// health, and then whether the views it decides from keep up.
func (in *Instance) coordinatorCheck(health func() (status, detail string)) orchestrator.HealthCheck {
	return func(ctx context.Context) (string, string) {
		status, detail := health()
		if status != "Healthy" {
			return status, detail
		}
		// The coordinator decides from the views: it keeps up only if
		// they do.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := in.view.WaitForLatest(wctx); err != nil {
			return "Degraded", "the views are behind the event stream"
		}
		return status, ""
	}
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       orchestrator.WithConn,
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
func (in *Instance) Store() *eventstore.Store { return in.store }

// Batches is the instance's batch view.
func (in *Instance) Batches() *projections.Batches { return in.batches }

// NATSURL is the client URL of the embedded NATS server ("" when the
// instance uses an existing deployment or listens in-process only): other
// instances may share it with --nats-url.
func (in *Instance) NATSURL() string {
	if in.nats == nil || in.cfg.NATSListen == "" {
		return ""
	}
	return in.nats.ClientURL()
}

// Secrets is the key ring sealing the instance's secrets.
func (in *Instance) Secrets() *secrets.Keyring { return in.secrets }

// NATSKeyFile is the nkey seed file clients of NATSURL authenticate with
// ("" without a listener).
func (in *Instance) NATSKeyFile() string {
	if in.natsKey == nil {
		return ""
	}
	return in.natsKey.Path
}

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
	if in.recovery.unlock != nil {
		in.recovery.unlock()
	}
	return errors.Join(errs...)
}

// retry runs fn until it succeeds or ctx ends, returning its last error.
// Each attempt gets at most 5 seconds: a request sent while a cluster
// elects its leader may never be answered.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(attempt)
		cancel()
		if err == nil {
			return nil
		}
		log.Warn("retrying", "what", what, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
