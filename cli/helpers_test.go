package cli_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/cli"
)

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	os.Exit(m.Run())
}

// term is one user's shell: a config directory and an environment.
type term struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newTerm(t *testing.T, orchestrator, control string) *term {
	t.Helper()
	return &term{t: t, dir: t.TempDir(), env: map[string]string{
		"PROVISIONING_SERVER":         orchestrator,
		"PROVISIONING_CONTROL_SERVER": control,
	}}
}

// result is what one command did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs one command with stdin and returns its exit code and output.
func (tm *term) run(stdin string, args ...string) result {
	tm.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errw bytes.Buffer
	code := cli.Main(ctx, args, cli.Env{
		Stdin:     strings.NewReader(stdin),
		Stdout:    &out,
		Stderr:    &errw,
		Getenv:    func(k string) string { return tm.env[k] },
		ConfigDir: tm.dir,
	})
	return result{code: code, stdout: out.String(), stderr: errw.String()}
}

// ok runs a command that must succeed and returns its stdout.
func (tm *term) ok(args ...string) string {
	tm.t.Helper()
	r := tm.run("", args...)
	if r.code != 0 {
		tm.t.Fatalf("provisioning %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// expect runs a command that must exit with code and returns its result.
func (tm *term) expect(code int, args ...string) result {
	tm.t.Helper()
	r := tm.run("", args...)
	if r.code != code {
		tm.t.Fatalf("provisioning %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}
