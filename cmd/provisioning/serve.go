package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"provisioning/app"
	"provisioning/config"
	"provisioning/dashboard"
	"provisioning/handlers"
)

// serveFlags declares the flags of `serve` onto cfg.
func serveFlags(fs *flag.FlagSet, cfg *app.Config, cli *string, logLevel, logFormat, configPath *string) {
	fs.StringVar(configPath, "config", "", "TOML configuration file (flags and PROVISIONING_* variables win over it)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the embedded NATS server's files and the simulator's state")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "use an existing NATS deployment (comma-separated URLs) instead of the embedded server")
	fs.StringVar(&cfg.NATSCreds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&cfg.NATSNkey, "nats-nkey", "", "NATS nkey seed file (such as the nats.nk of an instance started with --nats-listen)")
	fs.StringVar(&cfg.NATSCA, "nats-ca", "", "CA certificate to verify NATS servers")
	fs.StringVar(&cfg.NATSCert, "nats-cert", "", "client certificate for NATS")
	fs.StringVar(&cfg.NATSKey, "nats-key", "", "client key for NATS")
	fs.StringVar(&cfg.NATSListen, "nats-listen", cfg.NATSListen, "client address of the embedded NATS server (empty, the default: no listener; given: clients must prove the nkey in <data-dir>/nats.nk, created on the first start)")
	fs.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "replicas of every stream, bucket and object store (3 on a cluster)")
	fs.StringVar(&cfg.Sync, "sync", cfg.Sync, `embedded server fsync policy: "always" or an interval such as 1s`)
	fs.StringVar(&cfg.OrchestratorAddr, "orchestrator-addr", cfg.OrchestratorAddr, "orchestrator API address")
	fs.StringVar(&cfg.ControlAddr, "control-addr", cfg.ControlAddr, "control center API address")
	fs.StringVar(cli, "provisioning-cli", strings.Join(cfg.CLI, " "), "the provisioning CLI executors run (words split on spaces)")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "jobs this instance runs at once (0: run no jobs here, only the APIs)")
	fs.DurationVar(&cfg.JobAckWait, "job-ack-wait", cfg.JobAckWait, "a job without heartbeat for this long goes to another executor")
	fs.IntVar(&cfg.MaxAttempts, "max-attempts", cfg.MaxAttempts, "deliveries of one job before its task is failed")
	fs.DurationVar(&cfg.TaskTimeout, "task-timeout", cfg.TaskTimeout, "a task running longer is killed and failed")
	fs.DurationVar(&cfg.KillGrace, "kill-grace", cfg.KillGrace, "time between SIGTERM and SIGKILL when a task is stopped")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", cfg.ShutdownGrace, "on SIGTERM, how long running jobs may finish before they are handed back")
	fs.Float64Var(&cfg.SimSpeed, "sim-speed", cfg.SimSpeed, "simulator time factor: 1 realistic, 0 instant")
	fs.StringVar(&cfg.SecretsKeyFile, "secrets-key-file", "", "key ring sealing the secrets the streams hold (signing key, TOTP and webhook secrets), created mode 0600 when missing; give every instance of a deployment the same file (default <data-dir>/secrets.key)")
	fs.StringVar(&cfg.SettingsRoot, "settings-root", "", "an absolute directory whose files a submission's settings may name by absolute path (default: none; settings are paths relative to the CLI's working directory)")
	fs.StringVar(&cfg.SimFail, "sim-fail", "", "regexp of resource names the simulator fails on: a server's, taskserv's or cluster's own name, the infra only for a servers workflow without server names (default ^fail)")
	fs.IntVar(&cfg.SnapshotEvery, "snapshot-every", cfg.SnapshotEvery, "events between view snapshots")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", cfg.SnapshotInterval, "longest time between view snapshots while events arrive")
	fs.DurationVar(&cfg.IdempotencyWindow, "idempotency-window", cfg.IdempotencyWindow, "how long the answer to a POST with an Idempotency-Key is replayed")
	fs.DurationVar(&cfg.TokenTTL, "token-ttl", cfg.TokenTTL, "lifetime of the tokens the control center issues")
	fs.StringVar(&cfg.TokenIssuer, "token-issuer", cfg.TokenIssuer, "iss of issued tokens; only tokens of this issuer are accepted")
	fs.IntVar(&cfg.HashConcurrency, "password-hash-concurrency", 0, "password hashes run at once, 19 MiB each (0: one per CPU)")
	fs.Func("rate-limit-auth", "logins and token refreshes per client IP, as requests/window (default 5/1m; 0: off)", limitFlag(&cfg.RateLimits.Auth))
	fs.Func("rate-limit-token", "requests with a missing or bad token per client IP (default 30/1m; 0: off)", limitFlag(&cfg.RateLimits.Token))
	fs.Func("rate-limit-account", "failed logins and MFA codes per account, from any address; past it the account's logins are refused until the window slides (default 10/15m; 0: off)", limitFlag(&cfg.RateLimits.Account))
	fs.Func("rate-limit-general", "requests per user (default 100/1m; 0: off)", limitFlag(&cfg.RateLimits.General))
	fs.Func("rate-limit-batch", "batch submissions per user (default 10/1m; 0: off)", limitFlag(&cfg.RateLimits.Batch))
	fs.Func("trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For is believed", func(v string) error {
		cfg.TrustedProxies = nil
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				addr, aerr := netip.ParseAddr(part)
				if aerr != nil {
					return fmt.Errorf("%q is not a CIDR or an address", part)
				}
				p = netip.PrefixFrom(addr, addr.BitLen())
			}
			cfg.TrustedProxies = append(cfg.TrustedProxies, p.Masked())
		}
		return nil
	})
	fs.Func("ws-allowed-origins", "comma-separated origin hosts (patterns like *.example.com) browsers may open /ws from, besides this server", func(v string) error {
		cfg.WSAllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.WSAllowedOrigins = append(cfg.WSAllowedOrigins, o)
			}
		}
		return nil
	})
	fs.Func("cors-origins", "comma-separated origins (https://ops.example.com, https://*.example.com, or *) whose pages may call both APIs and open /ws, besides the dashboard", func(v string) error {
		origins, err := handlers.ParseOrigins(strings.Split(v, ","))
		cfg.CORSOrigins = origins
		return err
	})
	fs.StringVar(&cfg.PublicOrchestratorURL, "public-orchestrator-url", "", "the orchestrator's URL as browsers reach it, for the dashboard behind a proxy (default: the page's host name with the orchestrator's port)")
	fs.DurationVar(&cfg.WSPing, "ws-ping", 30*time.Second, "WebSocket keep-alive ping interval")
	fs.IntVar(&cfg.WSQueue, "ws-queue", 1024, "events that may wait for one WebSocket client before it is disconnected as too slow")
	fs.BoolVar(&cfg.AcceptEventLoss, "accept-event-loss", false, "start although the event store lost acknowledged events (a cut block file, an old disk image): the loss is logged and recorded, the views are rebuilt from what is left; restoring a backup is the alternative")
	fs.DurationVar(&cfg.DeliveryRetention, "delivery-retention", 30*24*time.Hour, "how long webhook delivery attempts are kept (stream PROV_DELIVERIES)")
	fs.DurationVar(&cfg.ReadWait, "read-wait", 5*time.Second, "how long a read waits for the views to catch up with the event stream before answering 503")
	fs.Func("memory-limit", "soft limit of the process's memory, like GOMEMLIMIT (e.g. 512MiB; the garbage collector works harder near it)", func(v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		debug.SetMemoryLimit(n)
		return nil
	})
	fs.StringVar(logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(logFormat, "log-format", "text", "text or json")
}

// adminPasswordEnv holds the password of the admin created on a first
// start with no users.
const adminPasswordEnv = "PROVISIONING_ADMIN_PASSWORD"

// parseBytes reads a size as GOMEMLIMIT does: an integer with an optional
// B, KiB, MiB, GiB or TiB suffix.
func parseBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	factor := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, factor = strings.TrimSuffix(v, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a size such as 512MiB")
	}
	return n * factor, nil
}

func limitFlag(l *handlers.Limit) func(string) error {
	return func(v string) error {
		parsed, err := handlers.ParseLimit(v)
		if err != nil {
			return err
		}
		*l = parsed
		return nil
	}
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, log, err := parseServe(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	in, err := app.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	// The one address a person needs, plainly, whatever the log format.
	fmt.Fprintf(stderr, "dashboard: %s\n", in.DashboardURL())
	code := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", cfg.ShutdownGrace)
	case err := <-in.Errors():
		log.Error("stopping after a component failed", "err", err)
		code = 1
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace+30*time.Second)
	defer cancel()
	if err := in.Close(closeCtx); err != nil {
		log.Error("shutdown", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (app.Config, *slog.Logger, error) {
	cfg := app.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cli, level, format, configPath string
	serveFlags(fs, &cfg, &cli, &level, &format, &configPath)
	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	if configPath == "" {
		configPath = getenv(config.EnvName("config"))
	}
	file, err := config.Load(configPath)
	if err != nil {
		return cfg, nil, err
	}
	if err := config.Apply(fs, file, getenv); err != nil {
		return cfg, nil, err
	}
	// The admin password is a secret: never a flag (flags show in ps).
	cfg.AdminPassword = getenv(adminPasswordEnv)
	cfg.BootstrapOutput = stderr
	if cfg.TokenTTL <= 0 {
		return cfg, nil, errors.New("--token-ttl must be positive")

	}
	if err := file.Section("webhooks", &cfg.Webhooks); err != nil {
		return cfg, nil, err
	}
	if unknown := file.Unknown("webhooks"); len(unknown) > 0 {
		return cfg, nil, fmt.Errorf("config file %s: unknown settings %s", file.Path, strings.Join(unknown, ", "))
	}
	if cfg.Webhooks, err = cfg.Webhooks.WithDefaults(); err != nil {
		return cfg, nil, fmt.Errorf("config file %s: %w", file.Path, err)
	}
	if cfg.PublicOrchestratorURL != "" {
		if err := dashboard.CheckOrchestratorURL(cfg.PublicOrchestratorURL); err != nil {
			return cfg, nil, fmt.Errorf("--public-orchestrator-url: %w", err)
		}
	}
	cfg.CLI = strings.Fields(cli)
	if len(cfg.CLI) == 0 {
		return cfg, nil, errors.New("--provisioning-cli is empty")
	}
	if cfg.DeliveryRetention <= 0 {
		return cfg, nil, errors.New("--delivery-retention must be positive")
	}
	if cfg.SettingsRoot != "" && !filepath.IsAbs(cfg.SettingsRoot) {
		return cfg, nil, fmt.Errorf("--settings-root %q: want an absolute directory", cfg.SettingsRoot)
	}
	if cfg.NATSURL != "" && cfg.Replicas < 1 {
		return cfg, nil, errors.New("--replicas must be at least 1")
	}
	log, err := newLogger(stderr, level, format)
	return cfg, log, err
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
