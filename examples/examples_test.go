// Package examples_test runs the Python and JavaScript examples against a
// live in-process instance, where their interpreters are installed.
package examples_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/client"
	"provisioning/client/clienttest"
	"provisioning/events/eventstest"
)

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	os.Exit(m.Run())
}

var taskLine = regexp.MustCompile(`(?m)^Task ID: ([0-9A-Z]{26})$`)

// dir is the directory of this file (the examples).
func dir(t *testing.T, sub string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), sub)
}

// instance starts a server and returns it with an admin token.
func instance(t *testing.T) (*app.Instance, string) {
	cfg := apptest.Config(t)
	// Tasks take about half a second: watch sees them end live.
	cfg.SimSpeed = 0.03
	in := apptest.Start(t, cfg)
	return in, apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword)
}

// run runs an example program and returns its exit code and output.
func run(t *testing.T, workdir string, env []string, stdin []byte, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = workdir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errw.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errw.String()
	}
	t.Fatalf("%s %v: %v\n%s", name, args, err, errw.String())
	return -1, "", ""
}

// serverEnv points an example at the instance.
func serverEnv(in *app.Instance, token string) []string {
	env := []string{
		"PROVISIONING_SERVER=" + in.OrchestratorURL(),
		"PROVISIONING_CONTROL_SERVER=" + in.ControlURL(),
		"PROVISIONING_USERNAME=admin",
		"PROVISIONING_PASSWORD=" + apptest.AdminPassword,
	}
	if token != "" {
		env = append(env, "PROVISIONING_TOKEN="+token)
	}
	return env
}

// completes waits for a task to reach status.
func completes(t *testing.T, in *app.Instance, token, id, status string) {
	t.Helper()
	c, err := client.New(in.OrchestratorURL(), in.ControlURL(), client.WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	eventstest.Eventually(t, 30*time.Second, func() bool {
		task, err := c.GetTask(context.Background(), id)
		return err == nil && task.Status == status
	}, "task %s never became %s", id, status)
}

// referenceCase runs the API reference's SDK example as written (cmd is
// the interpreter and its arguments): it submits a task that completes.
func referenceCase(t *testing.T, in *app.Instance, token, wd string, cmd ...string) {
	t.Run("reference example unchanged", func(t *testing.T) {
		code, out, errw := run(t, wd, serverEnv(in, token), nil, cmd[0], cmd[1:]...)
		m := taskLine.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("exit %d\n%s\n%s", code, out, errw)
		}
		completes(t, in, token, m[1], client.StatusCompleted)
	})
}

// clientCases runs a complete small client (interpreter, script) against
// the instance: submit, list, a refused submission, and watch with the
// exit status of the workflow.
func clientCases(t *testing.T, in *app.Instance, token, wd, interpreter, file string) {
	t.Run("client", func(t *testing.T) {
		script := func(args ...string) (int, string, string) {
			return run(t, wd, serverEnv(in, ""), nil, interpreter, append([]string{file}, args...)...)
		}
		submit := func(infra string) string {
			code, out, errw := script("submit", "--infra", infra)
			id := strings.TrimSpace(out)
			if code != 0 || len(id) != 26 {
				t.Fatalf("submit %s: exit %d %q %s", infra, code, out, errw)
			}
			return id
		}
		id := submit("production")
		completes(t, in, token, id, client.StatusCompleted)
		if code, out, _ := script("tasks"); code != 0 || !strings.Contains(out, id) {
			t.Errorf("tasks: exit %d\n%s", code, out)
		}
		if code, _, errw := script("submit", "--infra", "bad infra"); code != 3 || !strings.Contains(errw, "infra:") {
			t.Errorf("invalid submit: exit %d %s", code, errw)
		}
		for infra, want := range map[string]int{"watched": 0, "failing-watched": 1} {
			code, out, errw := script("watch", submit(infra))
			if code != want {
				t.Errorf("watch %s: exit %d, want %d\n%s%s", infra, code, want, out, errw)
			}
			// watch returns the task's status as the REST API spells it,
			// as the examples' READMEs say.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if status := lines[len(lines)-1]; status != map[int]string{0: "Completed", 1: "Failed"}[want] {
				t.Errorf("watch %s returned %q", infra, status)
			}
		}
	})
}

// signed is a webhook delivery signed as docs/webhooks.md says: the
// Standard Webhooks headers and X-Provisioning-Signature.
func signed(secret string, body []byte, at time.Time) []string {
	id, ts := "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV", strconv.FormatInt(at.Unix(), 10)
	std := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(std, "%s.%s.", id, ts)
	std.Write(body)
	plain := hmac.New(sha256.New, []byte(secret))
	plain.Write(body)
	return []string{
		"WEBHOOK_ID=" + id,
		"WEBHOOK_TIMESTAMP=" + ts,
		"WEBHOOK_SIGNATURE=v1," + base64.StdEncoding.EncodeToString(std.Sum(nil)),
		"X_PROVISIONING_SIGNATURE=sha256=" + hex.EncodeToString(plain.Sum(nil)),
	}
}

// fakeWatch serves a running task and a WebSocket that finishes it: t-ok
// completes, t-bad fails. The frames come once the client has read the
// task (subscribe, then read: the order the examples use); from the last
// one on, the REST API says so too (Completed, Failed), as the real one
// does.
func fakeWatch(t *testing.T) []string {
	orch := clienttest.New(t)
	orch.Token = "tok"
	var mu sync.Mutex
	ended := map[string]string{}
	read := map[string]chan struct{}{"t-ok": make(chan struct{}), "t-bad": make(chan struct{})}
	var once sync.Map
	orch.Handle("GET /tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		mu.Lock()
		status := ended[id]
		mu.Unlock()
		if ch, ok := read[id]; ok {
			if _, done := once.LoadOrStore(id, true); !done {
				close(ch)
			}
		}
		if status == "" {
			status = "Running"
		}
		clienttest.OK(w, 200, map[string]any{"id": r.PathValue("id"), "name": "create_servers", "status": status})
	})
	orch.WS(func(ctx context.Context, st *clienttest.Stream) error {
		id := st.Query["task_id"]
		final, rest := "completed", "Completed"
		if id == "t-bad" {
			final, rest = "failed", "Failed"
		}
		select {
		case <-read[id]:
		case <-ctx.Done():
			return nil
		}
		big := strings.Repeat("x", 70000) // a frame past the 16-bit length
		for i, f := range []clienttest.Frame{
			{EventType: "TaskProgress", Seq: 1, Data: map[string]any{"task_id": id, "progress": 50, "step": "Booting"}},
			{EventType: "TaskProgress", Seq: 2, Data: map[string]any{"task_id": id, "progress": 60, "step": big}},
			{EventType: "TaskStatusChanged", Seq: 3, Data: map[string]any{"task_id": id, "status": final}},
		} {
			if i == 2 {
				mu.Lock()
				ended[id] = rest
				mu.Unlock()
			}
			if err := st.Send(ctx, f); err != nil {
				return fmt.Errorf("frame %d: %w", i, err)
			}
		}
		<-ctx.Done()
		return nil
	})
	return []string{"PROVISIONING_SERVER=" + orch.URL, "PROVISIONING_TOKEN=tok"}
}

// watchCases runs an example's watch against the fake WebSocket.
func watchCases(t *testing.T, workdir, name string, args ...string) {
	env := fakeWatch(t)
	for id, want := range map[string]int{"t-ok": 0, "t-bad": 1} {
		t.Run("watch fake "+id, func(t *testing.T) {
			code, out, errw := run(t, workdir, env, nil, name, append(args, id)...)
			if code != want || !strings.Contains(out, "Booting") {
				t.Errorf("exit %d, want %d\n%s%s", code, want, out, errw)
			}
		})
	}
}

// verifyCases runs an example's verify command on good and bad deliveries.
func verifyCases(t *testing.T, workdir, name string, args ...string) {
	secret := "webhook-secret"
	body := []byte(`{"event":"task.completed","timestamp":"2025-09-26T10:00:00Z","data":{"task_id":"t1","status":"completed"}}`)
	now := time.Now()
	cases := []struct {
		name string
		env  []string
		body []byte
		want int
	}{
		{"standard headers", signed(secret, body, now), body, 0},
		{"legacy header only", signed(secret, body, now)[3:], body, 0},
		{"tampered body", signed(secret, body, now), append([]byte(" "), body...), 1},
		{"wrong secret", signed("another", body, now), body, 1},
		{"replayed an hour later", signed(secret, body, now.Add(-time.Hour)), body, 1},
		{"unsigned", nil, body, 1},
	}
	for _, tc := range cases {
		t.Run("verify "+tc.name, func(t *testing.T) {
			code, out, errw := run(t, workdir, tc.env, tc.body, name, append(args, secret)...)
			if code != tc.want {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.want, out, errw)
			}
		})
	}
}

func TestPython(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Python examples were not run")
	}
	if out, err := exec.Command(python, "-c", "import requests").CombinedOutput(); err != nil {
		t.Skipf("python3 cannot import requests (pip install requests): the Python examples were not run\n%s", out)
	}
	in, token := instance(t)
	wd := dir(t, "python")

	referenceCase(t, in, token, wd, python, "run_reference.py")
	clientCases(t, in, token, wd, python, "provisioning_client.py")
	verifyCases(t, wd, python, "provisioning_client.py", "verify")
	watchCases(t, wd, python, "provisioning_client.py", "watch")
}

func TestJavaScript(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript examples were not run")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: the JavaScript examples were not run")
	}
	// A copy, so that node_modules never lands in the source tree.
	wd := t.TempDir()
	for _, f := range []string{"package.json", "sdk-example.mjs", "reference-shim.mjs", "provisioning-client.mjs"} {
		b, err := os.ReadFile(filepath.Join(dir(t, "javascript"), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errw := run(t, wd, nil, nil, npm, "install", "--no-audit", "--no-fund", "--loglevel=error"); code != 0 {
		t.Skipf("npm install axios ws failed (no network or registry?): the JavaScript examples were not run\n%s%s", out, errw)
	}
	in, token := instance(t)

	referenceCase(t, in, token, wd, node, "--import", "./reference-shim.mjs", "sdk-example.mjs")
	clientCases(t, in, token, wd, node, "provisioning-client.mjs")
	verifyCases(t, wd, node, "provisioning-client.mjs", "verify")
	watchCases(t, wd, node, "provisioning-client.mjs", "watch")
}
