package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"provisioning/app/apptest"
)

// readmeSession returns the shell blocks of the README's "A first
// session": how to start the service, then the session itself.
func readmeSession(t *testing.T) (start string, session []string) {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i := strings.Index(text, "## A first session")
	if i < 0 {
		t.Fatal("the README has no first session")
	}
	text = text[i+1:]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text, -1)
	if len(blocks) < 2 {
		t.Fatalf("the first session has %d shell blocks", len(blocks))
	}
	for _, b := range blocks[1:] {
		session = append(session, b[1])
	}
	return blocks[0][1], session
}

// runSession runs the session's blocks as one bash script that stops at
// the first failing command, against p, with bin/provisioning the binary
// under test and stdin for its prompts.
func runSession(t *testing.T, p *apptest.Process, blocks []string, stdin string) (int, string, string) {
	t.Helper()
	script := "set -euo pipefail\n" + strings.Join(blocks, "\n")
	orch := strings.TrimPrefix(p.OrchestratorURL, "http://")
	control := strings.TrimPrefix(p.ControlURL, "http://")
	script = strings.NewReplacer("localhost:9090", orch, "localhost:9080", control).Replace(script)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(apptest.Binary(t), filepath.Join(dir, "bin", "provisioning")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PROVISIONING_SERVER="+p.OrchestratorURL, "PROVISIONING_CONTROL_SERVER="+p.ControlURL,
		"PROVISIONING_CONFIG_DIR="+t.TempDir(), "NO_COLOR=1")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String(), errw.String()
}

// The README's first session runs as written on a fresh data directory,
// and when something fails (here: a data directory whose admin has
// another password) it stops at once, showing the server's error,
// instead of going on with an empty token.
func TestREADMEFirstSession(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the first session needs %s", tool)
		}
	}
	start, session := readmeSession(t)
	env := regexp.MustCompile(`PROVISIONING_ADMIN_PASSWORD='([^']+)'`).FindStringSubmatch(start)
	if env == nil || !strings.Contains(start, "make run") {
		t.Fatalf("the session does not start with make run and an admin password: %q", start)
	}
	password := env[1]
	serve := func(password string) *apptest.Process {
		// What make run starts, on ports of the test's own.
		return apptest.Serve(t, []string{"PROVISIONING_ADMIN_PASSWORD=" + password}, "--data-dir", t.TempDir(),
			"--orchestrator-addr", "127.0.0.1:0", "--control-addr", "127.0.0.1:0", "--sim-speed", "0.02")
	}

	code, out, errOut := runSession(t, serve(password), session, password+"\n")
	if code != 0 {
		t.Fatalf("the first session failed (exit %d)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{`"status"`, "X-Total-Count", "upcloud_servers"} {
		if !strings.Contains(out, want) {
			t.Errorf("the session's output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = runSession(t, serve("another-admin-password"), session, password+"\n")
	if code == 0 {
		t.Fatalf("a session whose login fails went on to the end:\n%s", out)
	}
	if !strings.Contains(errOut, "invalid username, password or MFA code") {
		t.Fatalf("the failed login is not shown (exit %d)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
