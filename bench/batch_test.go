package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"provisioning/bench"
)

// BenchmarkBatch runs the 10,000-operation batch (18,000 tasks, limit
// 100) once per iteration: with the no-op runner (the scheduler's own
// overhead) and with the real simulator processes at zero duration, each
// with an fsync interval of 1 s and with fsync on every write. The
// simulator runs use the serve default of 8 workers; on 2 cores more
// processes at once only thrash.
//
//	go test -run '^$' -bench BenchmarkBatch -benchtime 1x ./bench/
func BenchmarkBatch(b *testing.B) {
	cli := buildCLI(b)
	for _, sync := range []string{"1s", "always"} {
		for _, mode := range []string{"noop", "simulator"} {
			b.Run(mode+"/sync="+sync, func(b *testing.B) {
				opts := bench.Options{Sync: sync}
				if mode == "noop" {
					// No process to wait for: more workers keep more of
					// the 100 allowed tasks moving.
					opts.Runner, opts.Workers = bench.NoopRunner{}, 16
				} else {
					opts.CLI = []string{cli, "simulate"}
					opts.Env = []string{"PROVISIONING_SIM_SPEED=0"}
				}
				var last bench.Result
				for b.Loop() {
					res, err := bench.Batch(context.Background(), opts)
					if err != nil {
						b.Fatal(err)
					}
					if res.Status != "Completed" {
						b.Fatalf("batch ended %s", res.Status)
					}
					last = res
				}
				b.ReportMetric(last.TasksPerSecond, "tasks/s")
				b.ReportMetric(float64(last.CPUPerTask.Microseconds()), "cpu-µs/task")
				b.ReportMetric(last.EventsPerTask, "events/task")
				b.ReportMetric(last.PeakRSSMB, "peak-RSS-MB")
				b.ReportMetric(last.Elapsed.Seconds(), "s/batch")
				b.Log(last)
			})
		}
	}
}

func buildCLI(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "provisioning")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/provisioning")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("build: %v", err)
	}
	return bin
}

// TestSmallBatch runs the benchmark's machinery on a small batch, so that
// it stays working between benchmark runs.
func TestSmallBatch(t *testing.T) {
	res, err := bench.Batch(context.Background(), bench.Options{Operations: 200, ParallelLimit: 20, Runner: bench.NoopRunner{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "Completed" || res.Tasks != 360 || res.Events == 0 {
		t.Fatalf("%+v", res)
	}
	t.Log(res)
}
