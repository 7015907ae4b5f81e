package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/events/eventstest"
)

// TestClientCommandsOfTheBinary runs the client commands as a user would:
// the real binary against a `provisioning serve` process, the password
// piped on stdin, the token kept in the configuration directory.
func TestClientCommandsOfTheBinary(t *testing.T) {
	p := apptest.Serve(t, apptest.AdminEnv, "--data-dir", t.TempDir(), "--orchestrator-addr", "127.0.0.1:0",
		"--control-addr", "127.0.0.1:0", "--nats-listen", "", "--sim-speed", "0")
	config := t.TempDir()
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(apptest.Binary(t), args...)
		cmd.Env = append(os.Environ(), "PROVISIONING_SERVER="+p.OrchestratorURL, "PROVISIONING_CONTROL_SERVER="+p.ControlURL,
			"PROVISIONING_CONFIG_DIR="+config, "NO_COLOR=1")
		cmd.Stdin = strings.NewReader(stdin)
		var out, errw bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errw
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errw.String()
	}

	if code, _, errw := run(apptest.AdminPassword+"\n", "login", "-u", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("login: exit %d %s", code, errw)
	}
	if info, err := os.Stat(filepath.Join(config, "credentials.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credentials: %v %v", info, err)
	}
	code, out, errw := run("", "workflow", "create", "servers", "--infra", "failing-binary", "-o", "json")
	var created struct {
		TaskID string `json:"task_id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil {
		t.Fatalf("workflow create: exit %d %s %s", code, out, errw)
	}
	eventstest.Eventually(t, 30*time.Second, func() bool {
		_, out, _ := run("", "tasks", "get", created.TaskID, "-o", "json")
		return strings.Contains(out, `"status": "Failed"`)
	}, "task %s never failed", created.TaskID)
	if code, out, _ := run("", "watch", created.TaskID); code != 1 || !strings.Contains(out, "Failed") {
		t.Errorf("watch of a failed task: exit %d\n%s", code, out)
	}
	if code, _, errw := run("", "tasks", "get", "01ARZ3NDEKTSV4RRFFQ69G5FAV"); code != 3 || !strings.Contains(errw, "not found") {
		t.Errorf("unknown task: exit %d %s", code, errw)
	}
	if code, _, _ := run("", "tasks"); code != 2 {
		t.Errorf("tasks without a subcommand: exit %d", code)
	}
	if code, out, _ := run("", "help"); code != 0 || !strings.Contains(out, "provisioning watch") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if code, _, _ := run("", "logout"); code != 0 {
		t.Errorf("logout: exit %d", code)
	}
	if code, _, _ := run("", "tasks", "ls"); code != 4 {
		t.Errorf("tasks ls after logout: exit %d, want 4", code)
	}
}
