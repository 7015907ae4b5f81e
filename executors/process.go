package executors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Progress is one progress line of the CLI's stdout:
// {"progress": 40, "step": "Installing Kubernetes", "total_steps": 8}.
type Progress struct {
	Percent    float64
	Step       string
	TotalSteps int
}

// Result is how a run ended.
type Result struct {
	// ExitCode is the process's exit code, -1 when it did not exit by
	// itself (killed, or never started).
	ExitCode int
	// Output is the tail of stdout without the progress lines.
	Output string
	// Stderr is the tail of stderr.
	Stderr string
	// Err is set when the process could not be started or did not exit
	// with 0.
	Err error
}

// Runner executes one job. Implementations must return when ctx ends and
// leave no process behind.
type Runner interface {
	Run(ctx context.Context, job Job, progress func(Progress)) Result
}

// Job is what a runner needs: the command line and its environment.
type Job struct {
	TaskID  string
	Attempt int
	Argv    []string
	Env     []string
}

// Process runs jobs as child processes, each in its own process group so
// that cancelling kills the whole group: SIGTERM first, SIGKILL after
// KillGrace. Children also die with the executor (Pdeathsig), so a crashed
// executor leaves no job running while it is redelivered elsewhere.
type Process struct {
	KillGrace   time.Duration
	OutputLimit int
	StderrLimit int
}

// Run implements Runner.
func (p Process) Run(ctx context.Context, job Job, progress func(Progress)) Result {
	if len(job.Argv) == 0 {
		return Result{ExitCode: -1, Err: errors.New("no command to run")}
	}
	stdout := &lineWriter{progress: progress, tail: tailBuffer{limit: p.OutputLimit}}
	stderr := &tailBuffer{limit: p.StderrLimit}
	cmd := exec.CommandContext(ctx, job.Argv[0], job.Argv[1:]...)
	cmd.Env = job.Env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return signalGroup(cmd, syscall.SIGTERM) }
	cmd.WaitDelay = p.KillGrace
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) && ctx.Err() == nil && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		// The CLI exited 0 but left a child holding its output open: the
		// run succeeded; the child is not ours to keep.
		_ = signalGroup(cmd, syscall.SIGKILL)
		err = nil
	}
	if ctx.Err() != nil && cmd.Process != nil {
		// Whatever the leader did, nothing of the group may outlive a
		// cancelled job.
		_ = signalGroup(cmd, syscall.SIGKILL)
	}
	stdout.flush()
	res := Result{ExitCode: -1, Output: stdout.tail.String(), Stderr: stderr.String()}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if err != nil {
		res.Err = fmt.Errorf("run %s: %w", job.Argv[0], err)
	}
	return res
}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// tailBuffer keeps the last limit bytes written to it. It trims only
// when it holds twice that, so a long output costs one copy per limit
// bytes written rather than one per write.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	t.trim()
	return len(p), nil
}

// writeLine appends l and a newline.
func (t *tailBuffer) writeLine(l []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(append(t.buf, l...), '\n')
	t.trim()
}

func (t *tailBuffer) trim() {
	if t.limit > 0 && len(t.buf) > 2*t.limit {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.limit:]...)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if t.limit > 0 && len(b) > t.limit {
		b = b[len(b)-t.limit:]
	}
	return strings.TrimSpace(string(b))
}

// maxLine bounds one stdout line; longer lines are cut.
const maxLine = 64 << 10

// lineWriter splits stdout into lines: progress lines go to progress, the
// others to a bounded tail.
type lineWriter struct {
	progress func(Progress)
	partial  []byte
	tail     tailBuffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) > maxLine {
				w.line(w.partial[:maxLine])
				w.partial = w.partial[:0]
			}
			break
		}
		w.partial = append(w.partial, p[:i]...)
		w.line(w.partial)
		w.partial = w.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line(w.partial)
		w.partial = nil
	}
}

func (w *lineWriter) line(l []byte) {
	if pr, ok := parseProgress(l); ok {
		if w.progress != nil {
			w.progress(pr)
		}
		return
	}
	w.tail.writeLine(l)
}

func parseProgress(l []byte) (Progress, bool) {
	l = bytes.TrimSpace(l)
	if len(l) == 0 || l[0] != '{' {
		return Progress{}, false
	}
	var line struct {
		Progress   *float64 `json:"progress"`
		Step       string   `json:"step"`
		TotalSteps int      `json:"total_steps"`
	}
	if json.Unmarshal(l, &line) != nil || line.Progress == nil {
		return Progress{}, false
	}
	pct := min(max(*line.Progress, 0), 100)
	return Progress{Percent: pct, Step: line.Step, TotalSteps: line.TotalSteps}, true
}
