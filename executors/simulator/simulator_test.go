package simulator_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"provisioning/executors/simulator"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := simulator.Main(args, func(k string) string { return env[k] }, &out, &errw)
	return code, out.String(), errw.String()
}

func TestCreateThenDeleteChangesTheCloud(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	env := map[string]string{"PROVISIONING_SIM_STATE": state, "PROVISIONING_SIM_SPEED": "0", "PROVISIONING_TASK_ID": "t1"}
	st, _ := simulator.OpenState(state)

	code, out, _ := run(t, env, "servers", "create", "--infra", "prod", "--check")
	if code != 0 || !strings.Contains(out, "Check mode: would create 3 servers") {
		t.Fatalf("check: %d %q", code, out)
	}
	if res, _ := st.Resources(); len(res) != 0 {
		t.Fatalf("--check changed the cloud: %v", res)
	}
	code, out, _ = run(t, env, "servers", "create", "--infra", "prod", "--settings", "config.ncl", "--wait")
	if code != 0 || !strings.Contains(out, "Successfully created 3 servers") || !strings.Contains(out, `{"progress": 0, "step": "Validating settings", "total_steps": 6}`) {
		t.Fatalf("create: %d %q", code, out)
	}
	code, out, _ = run(t, env, "servers", "create", "--infra", "web", "--name", "web-01", "--plan", "1xCPU-2 GB", "--zone", "de-fra1")
	if code != 0 || !strings.Contains(out, "Successfully created server web-01") {
		t.Fatalf("create one: %d %q", code, out)
	}
	if res, _ := st.Resources(); len(res) != 4 {
		t.Fatalf("resources after create: %v", res)
	}
	code, out, _ = run(t, env, "servers", "create", "--infra", "prod")
	if code != 0 || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("second create: %d %q", code, out)
	}
	code, out, _ = run(t, env, "servers", "delete", "--infra", "prod")
	if code != 0 || !strings.Contains(out, "Successfully deleted 3 servers") {
		t.Fatalf("delete: %d %q", code, out)
	}
	if res, _ := st.Resources(); len(res) != 1 || res[0] != "servers/web/web-01" {
		t.Fatalf("resources after delete: %v", res)
	}
	entries, err := simulator.ReadJournal(state)
	if err != nil || simulator.Runs(entries)["t1"] != 5 || len(simulator.Overlaps(entries)) != 0 {
		t.Fatalf("journal %v (%v)", entries, err)
	}
}

func TestFailuresOnDemand(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	env := map[string]string{"PROVISIONING_SIM_STATE": state, "PROVISIONING_SIM_SPEED": "0"}
	code, out, errOut := run(t, env, "taskserv", "create", "fail-cilium", "--infra", "prod")
	if code != 1 || !strings.Contains(errOut, "simulated failure") || strings.Contains(out, "Successfully") {
		t.Fatalf("fail-cilium: %d %q %q", code, out, errOut)
	}
	env["PROVISIONING_SIM_FAIL"] = "^kube"
	if code, _, _ := run(t, env, "taskserv", "create", "kubernetes", "--infra", "prod"); code != 1 {
		t.Fatalf("custom pattern did not fail kubernetes: %d", code)
	}
	if code, _, _ := run(t, env, "taskserv", "create", "fail-cilium", "--infra", "prod"); code != 0 {
		t.Fatalf("fail-cilium failed under another pattern: %d", code)
	}
	st, _ := simulator.OpenState(state)
	if res, _ := st.Resources(); len(res) != 1 || res[0] != "taskserv/prod/fail-cilium" {
		t.Fatalf("failed runs changed the cloud: %v", res)
	}
}

// The pattern matches the name of the resource a command acts on, never
// the infra it belongs to: a batch named "failing" (its default infra)
// fails no healthy server, taskserv or cluster. A servers command without
// a server name acts on the infra's servers: there the infra is the name.
func TestFailureMatchesTheResourcesOwnName(t *testing.T) {
	env := map[string]string{"PROVISIONING_SIM_STATE": filepath.Join(t.TempDir(), "state.json"), "PROVISIONING_SIM_SPEED": "0"}
	healthy := [][]string{
		{"servers", "create", "--infra", "failing", "--name", "web-01"},
		{"taskserv", "create", "kubernetes", "--infra", "failing"},
		{"cluster", "create", "buildkit", "--infra", "failing"},
	}
	for _, args := range healthy {
		if code, _, errOut := run(t, env, args...); code != 0 {
			t.Errorf("%v failed because of its infra's name: %d %s", args, code, errOut)
		}
	}
	if code, _, _ := run(t, env, "servers", "create", "--infra", "prod", "--name", "fail-web"); code != 1 {
		t.Errorf("a server named fail-web did not fail: %d", code)
	}
	if code, _, _ := run(t, env, "servers", "create", "--infra", "failing"); code != 1 {
		t.Errorf("the servers of infra failing did not fail: %d", code)
	}
}

func TestUsageErrors(t *testing.T) {
	env := map[string]string{"PROVISIONING_SIM_STATE": filepath.Join(t.TempDir(), "s.json")}
	for _, args := range [][]string{{}, {"servers"}, {"disks", "create"}, {"servers", "resize", "--infra", "x"},
		{"taskserv", "create", "--infra", "x"}, {"servers", "create"}, {"servers", "create", "--infra", "x", "--bogus"}} {
		if code, _, errOut := run(t, env, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d %q, want 2 with a message", args, code, errOut)
		}
	}
	env["PROVISIONING_SIM_SPEED"] = "-1"
	if code, _, _ := run(t, env, "servers", "create", "--infra", "x"); code != 2 {
		t.Errorf("negative speed accepted")
	}
}
