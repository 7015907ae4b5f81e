// Package apptest starts whole instances for end-to-end tests: an embedded
// NATS server on a temporary directory, the APIs on random loopback ports,
// and the test binary itself as the provisioning CLI (call SimulatorMain
// from TestMain so that `<test binary> simulate …` runs the simulator).
package apptest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/executors/simulator"
	"provisioning/handlers"
)

// SimulatorMain runs the simulator and exits when the test binary was
// started as the provisioning CLI. Call it first thing in TestMain.
func SimulatorMain() {
	if len(os.Args) > 1 && os.Args[1] == "simulate" {
		os.Exit(simulator.Main(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
}

// Config is a configuration for tests: temporary data, loopback ports
// picked by the kernel, no NATS listener, the simulator at speed, fast
// redelivery.
func Config(tb testing.TB) app.Config {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.DataDir = tb.TempDir()
	cfg.NATSListen = ""
	cfg.Sync = "1m"
	cfg.OrchestratorAddr = "127.0.0.1:0"
	cfg.ControlAddr = "127.0.0.1:0"
	cfg.CLI = []string{exe, "simulate"}
	cfg.SimSpeed = 0
	cfg.JobAckWait = 3 * time.Second
	cfg.KillGrace = 2 * time.Second
	cfg.ShutdownGrace = 5 * time.Second
	cfg.AdminPassword = AdminPassword
	// Instances of one test are one deployment: they share a secrets
	// key file, as every instance of a real one must.
	cfg.SecretsKeyFile = secretsKeyFile(tb)
	// Tests poll; the limits of the reference are tested on their own.
	cfg.RateLimits = handlers.RateLimits{
		Auth:    handlers.Limit{Requests: 10_000, Window: time.Minute},
		General: handlers.Limit{Requests: 1_000_000, Window: time.Minute},
		Batch:   handlers.Limit{Requests: 10_000, Window: time.Minute},
	}
	return cfg
}

var secretsKeys sync.Map // test name -> key file path

// secretsKeyFile is the secrets key file of tb's deployment: one per test.
func secretsKeyFile(tb testing.TB) string {
	if p, ok := secretsKeys.Load(tb.Name()); ok {
		return p.(string)
	}
	p, _ := secretsKeys.LoadOrStore(tb.Name(), filepath.Join(tb.TempDir(), "secrets.key"))
	tb.Cleanup(func() { secretsKeys.Delete(tb.Name()) })
	return p.(string)
}

// Start runs an instance with cfg and closes it when the test ends.
func Start(tb testing.TB, cfg app.Config) *app.Instance {
	tb.Helper()
	in, err := app.Start(context.Background(), cfg, Logger(tb))
	if err != nil {
		tb.Fatalf("start instance: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := in.Close(ctx); err != nil {
			tb.Errorf("close instance: %v", err)
		}
	})
	Describe(tb, in)
	return in
}

// Describe tells the OpenAPI check which API each of in's URLs serves
// (Start does it; call it for instances started otherwise).
func Describe(tb testing.TB, in *app.Instance) {
	registerAPI(tb, in.OrchestratorURL(), handlers.OrchestratorAPI)
	registerAPI(tb, in.ControlURL(), handlers.ControlCenterAPI)
}

// Logger logs to the test's output when -v is given, else nowhere.
func Logger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}

// ProcessAlive reports whether pid runs: it exists and is not a zombie
// waiting for whoever adopted it to reap it.
func ProcessAlive(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// FreeAddr is a loopback address nothing listens on now, for an instance
// that must come back on the address it had (a restart).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
