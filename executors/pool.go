package executors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/workflow"
)

// Config tunes a Pool. Zero values take the defaults of DefaultConfig.
type Config struct {
	// CLI is the provisioning CLI's argv prefix; a task's subcommand and
	// args follow it.
	CLI []string
	// Env is added to the CLI's environment.
	Env []string
	// Workers is how many jobs this process runs at once. It is also the
	// most jobs it holds: each idle worker asks for exactly one.
	Workers int
	// AckWait is how long a job may go without a heartbeat before
	// JetStream hands it to another executor. Workers heartbeat every
	// AckWait/3.
	AckWait time.Duration
	// MaxAttempts bounds deliveries of one job. The consumer delivers it
	// once more so the executor can record the task as Failed.
	MaxAttempts int
	// MaxAckPending caps jobs outstanding across all executors.
	MaxAckPending int
	// DefaultTimeout applies to tasks created without one.
	DefaultTimeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL.
	KillGrace time.Duration
	// ShutdownGrace is how long Run lets running jobs finish after its
	// context ends; jobs still running then are killed and handed back.
	ShutdownGrace time.Duration
	// ProgressInterval: at most one progress event per task per interval.
	ProgressInterval time.Duration
	// OutputLimit and StderrLimit bound what is kept of a run's output.
	OutputLimit, StderrLimit int
	// ID names this executor in events.
	ID string
	// Rules are the API's validation rules; every job is checked with
	// them before it runs (see workflow.Rules.CheckJob).
	Rules workflow.Rules
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Workers:          8,
		AckWait:          30 * time.Second,
		MaxAttempts:      3,
		MaxAckPending:    1000,
		DefaultTimeout:   time.Hour,
		KillGrace:        5 * time.Second,
		ShutdownGrace:    30 * time.Second,
		ProgressInterval: 250 * time.Millisecond,
		OutputLimit:      64 << 10,
		StderrLimit:      4 << 10,
		ID:               NewInstanceID(),
	}
}

// NewInstanceID names an instance in the events its executors and
// coordinators append: host, process and a random suffix. One instance
// uses one id for all of them, so its events can be told apart from
// another's and traced to one process.
func NewInstanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), events.NewID()[20:])
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.AckWait <= 0 {
		c.AckWait = d.AckWait
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = d.MaxAckPending
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = d.DefaultTimeout
	}
	if c.KillGrace <= 0 {
		c.KillGrace = d.KillGrace
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = d.ShutdownGrace
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = d.ProgressInterval
	}
	if c.OutputLimit <= 0 {
		c.OutputLimit = d.OutputLimit
	}
	if c.StderrLimit <= 0 {
		c.StderrLimit = d.StderrLimit
	}
	if c.ID == "" {
		c.ID = d.ID
	}
	return c
}

// ConsumerName is the durable consumer every executor shares.
const ConsumerName = "executors"

// Pool runs jobs: TaskCreated events taken from a durable pull consumer
// shared by every executor of every instance, so each job goes to one
// worker. The pool, not the job, decides ack, nak and give-up.
type Pool struct {
	store   *eventstore.Store
	cfg     Config
	runner  Runner
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	running map[string]*execution
}

// NewPool returns a pool; runner nil means the Process runner. reg
// receives the pool's metrics and may be nil.
func NewPool(store *eventstore.Store, cfg Config, runner Runner, log *slog.Logger, reg prometheus.Registerer) *Pool {
	cfg = cfg.withDefaults()
	if runner == nil {
		runner = Process{KillGrace: cfg.KillGrace, OutputLimit: cfg.OutputLimit, StderrLimit: cfg.StderrLimit}
	}
	return &Pool{store: store, cfg: cfg, runner: runner, log: log, metrics: newMetrics(reg), running: map[string]*execution{}}
}

// ConsumerConfig is the work-queue consumer, every setting on purpose:
// explicit acks; AckWait as configured, kept alive by heartbeats; one
// delivery more than MaxAttempts, used to record the give-up; a cap on
// outstanding jobs; room for many waiting pull requests, one per idle
// worker of every instance.
func (c Config) ConsumerConfig() jetstream.ConsumerConfig {
	c = c.withDefaults()
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "provisioning executors: one job per TaskCreated",
		FilterSubject: events.TypeSubject(events.TaskCreated),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxAttempts + 1,
		MaxAckPending: c.MaxAckPending,
		MaxWaiting:    4096,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
}

// Run takes and runs jobs until ctx ends, then stops taking jobs, lets the
// running ones finish within ShutdownGrace, and hands the rest back.
func (p *Pool) Run(ctx context.Context) error {
	cons, err := p.store.JetStream().CreateOrUpdateConsumer(ctx, events.EventsStream.Name, p.cfg.ConsumerConfig())
	if err != nil {
		return fmt.Errorf("executor consumer: %w", err)
	}
	sub, err := p.store.Conn().Subscribe(events.TypeSubject(events.TaskCancelRequested), p.onCancel)
	if err != nil {
		return fmt.Errorf("subscribe to cancellations: %w", err)
	}
	defer sub.Unsubscribe()

	jobCtx, killJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer killJobs(nil)
	var workers sync.WaitGroup
	for i := 0; i < p.cfg.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			p.work(ctx, jobCtx, cons)
		}()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(p.cfg.ShutdownGrace):
		p.log.Warn("shutdown grace over: handing running jobs back", "running", p.Running())
		killJobs(errShutdown)
		<-done
	}
	return nil
}

// Running is how many jobs this pool is running now.
func (p *Pool) Running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.running)
}

// work is one worker: it asks for a job only when idle.
func (p *Pool) work(ctx, jobCtx context.Context, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				p.log.Warn("fetch job", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for msg := range batch.Messages() {
			p.handle(jobCtx, msg)
		}
		cancel()
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, nats.ErrTimeout) {
			p.log.Warn("fetch job", "err", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// onCancel stops a job of this pool when its task's cancellation is
// appended. Workers also notice at their next heartbeat, so a missed
// message only delays the kill.
func (p *Pool) onCancel(msg *nats.Msg) {
	parts := strings.Split(msg.Subject, ".")
	if len(parts) < 4 {
		return
	}
	p.mu.Lock()
	x := p.running[parts[3]]
	p.mu.Unlock()
	if x != nil {
		x.stop(errCancelled)
	}
}
