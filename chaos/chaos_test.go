package chaos_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/chaos"
)

// TestChaos is the crash test at a size for `make test`: a smaller batch,
// fewer submissions and kills, two fixed seeds (CHAOS_SEED runs one seed
// of your choosing). `make chaos` runs the full size with a new seed.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes for a while; skipped with -short")
	}
	seeds := []uint64{1, 2}
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q", v)
		}
		seeds = []uint64{seed}
	}
	bin := apptest.Binary(t)
	for _, seed := range seeds {
		t.Run("seed "+strconv.FormatUint(seed, 10), func(t *testing.T) {
			var log strings.Builder
			cfg := chaos.Config{Binary: bin, Seed: seed, Kills: 3, Uptime: 3 * time.Second, Operations: 12, ServersPerOperation: 10,
				Singles: 40, Workers: 4, Settle: 2 * time.Minute, Dir: t.TempDir(), Log: &log}
			rep, err := chaos.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("chaos run (seed %d): %v\n%s", seed, err, log.String())
			}
			if !rep.OK() {
				t.Fatalf("chaos (seed %d) failed:\n%s", seed, log.String())
			}
			t.Logf("seed %d: %d kills, %d tasks, %d runs (%d again after a kill), %d events, %s", seed, rep.Kills, rep.Tasks, rep.Runs, rep.Reruns, rep.Events, rep.Duration.Round(time.Second))
		})
	}
}
