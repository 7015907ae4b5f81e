package executors_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/executors"
)

func TestProcessParsesProgressAndKeepsOutput(t *testing.T) {
	script := `echo '{"progress": 40, "step": "Installing Kubernetes", "total_steps": 5}'; echo hello; echo '{"progress": 250}'; echo '{"not": "progress"}'; echo oops >&2; exit 3`
	var got []executors.Progress
	res := executors.Process{KillGrace: time.Second, OutputLimit: 1024, StderrLimit: 1024}.Run(context.Background(),
		executors.Job{Argv: []string{"sh", "-c", script}}, func(p executors.Progress) { got = append(got, p) })
	if res.ExitCode != 3 || res.Err == nil {
		t.Fatalf("exit %d err %v, want 3 and an error", res.ExitCode, res.Err)
	}
	if res.Output != "hello\n{\"not\": \"progress\"}" || res.Stderr != "oops" {
		t.Fatalf("output %q stderr %q", res.Output, res.Stderr)
	}
	want := []executors.Progress{{Percent: 40, Step: "Installing Kubernetes", TotalSteps: 5}, {Percent: 100}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("progress %+v, want %+v (values clamped to 0..100)", got, want)
	}
}

func TestProcessOutputIsBounded(t *testing.T) {
	res := executors.Process{KillGrace: time.Second, OutputLimit: 100, StderrLimit: 10}.Run(context.Background(),
		executors.Job{Argv: []string{"sh", "-c", "i=0; while [ $i -lt 1000 ]; do echo line-$i; echo e-$i >&2; i=$((i+1)); done"}}, nil)
	if res.ExitCode != 0 || len(res.Output) > 100 || !strings.HasSuffix(res.Output, "line-999") || len(res.Stderr) > 10 {
		t.Fatalf("exit %d, output %d bytes ending %q, stderr %q", res.ExitCode, len(res.Output), res.Output[max(0, len(res.Output)-10):], res.Stderr)
	}
}

func TestProcessCancelKillsTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The leader ignores SIGTERM and has a child: both must be gone.
	script := `trap '' TERM; sleep 100 & echo $$ $! > ` + pidFile + `; wait`
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan executors.Result, 1)
	go func() {
		done <- executors.Process{KillGrace: 200 * time.Millisecond}.Run(ctx, executors.Job{Argv: []string{"sh", "-c", script}}, nil)
	}()
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for len(pids) < 2 && time.Now().Before(deadline) {
		if data, err := os.ReadFile(pidFile); err == nil {
			pids = pids[:0]
			for _, f := range strings.Fields(string(data)) {
				n, _ := strconv.Atoi(f)
				pids = append(pids, n)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) < 2 {
		t.Fatal("script never started")
	}
	cancel()
	select {
	case res := <-done:
		if res.ExitCode == 0 {
			t.Fatalf("cancelled run exited 0")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, pid := range pids {
		deadline := time.Now().Add(5 * time.Second)
		for apptest.ProcessAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d survived the cancel", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// A CLI that exits 0 but leaves a child holding stdout open still
// succeeded; the child is killed.
func TestProcessExitZeroWithAChildHoldingOutput(t *testing.T) {
	res := executors.Process{KillGrace: 200 * time.Millisecond}.Run(context.Background(),
		executors.Job{Argv: []string{"sh", "-c", "echo done; sleep 30 &"}}, nil)
	if res.Err != nil || res.ExitCode != 0 || res.Output != "done" {
		t.Fatalf("exit %d err %v output %q", res.ExitCode, res.Err, res.Output)
	}
}
