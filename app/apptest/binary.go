package apptest

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"provisioning/handlers"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// Binary builds cmd/provisioning once per test process and returns its
// path.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "provisioning-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "provisioning")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/provisioning")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("build provisioning: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// RemoveBinary deletes what Binary built, if it built anything. Call it
// from TestMain once m.Run has returned.
func RemoveBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Process is a `provisioning serve` child process.
type Process struct {
	Cmd             *exec.Cmd
	OrchestratorURL string
	ControlURL      string
	logs            *syncBuffer
}

// Serve starts the binary with `serve args...` and waits until it logs the
// addresses it listens on. The process is killed when the test ends.
func Serve(tb testing.TB, env []string, args ...string) *Process {
	tb.Helper()
	cmd := exec.Command(Binary(tb), append([]string{"serve", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &Process{Cmd: cmd, logs: &syncBuffer{}}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("serve logs:\n%s", p.logs.String())
		}
	})
	ready := make(chan struct{})
	go p.scan(stderr, ready)
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		tb.Fatalf("serve did not start:\n%s", p.logs.String())
	}
	registerAPI(tb, p.OrchestratorURL, handlers.OrchestratorAPI)
	registerAPI(tb, p.ControlURL, handlers.ControlCenterAPI)
	return p
}

func (p *Process) scan(r io.Reader, ready chan<- struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	signalled := false
	for sc.Scan() {
		line := sc.Text()
		p.logs.WriteString(line + "\n")
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "orchestrator listening":
			p.OrchestratorURL = "http://" + strings.Replace(rec.Addr, "[::]", "127.0.0.1", 1)
		case "control center listening":
			p.ControlURL = "http://" + strings.Replace(rec.Addr, "[::]", "127.0.0.1", 1)
		}
		if !signalled && p.OrchestratorURL != "" {
			signalled = true
			close(ready)
		}
	}
}

// Logs returns everything the process logged so far.
func (p *Process) Logs() string { return p.logs.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
