package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"provisioning/app/apptest"
	"provisioning/cli"
	"provisioning/client"
	"provisioning/events/eventstest"
)

// TestEndToEnd drives the CLI against a whole in-process instance: login,
// submissions, lists, errors and watch with the workflow's exit status.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	in := apptest.Start(t, apptest.Config(t))
	tm := newTerm(t, in.OrchestratorURL(), in.ControlURL())

	// Not logged in yet.
	r := tm.expect(cli.ExitAuth, "tasks", "ls")
	if !strings.Contains(r.stderr, "provisioning login") {
		t.Errorf("no hint to log in: %s", r.stderr)
	}
	tm.expect(cli.ExitAuth, "whoami")

	// Login: the password from stdin, the token stored 0600.
	r = tm.run(apptest.AdminPassword+"\n", "login", "-u", "admin", "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "Logged in to "+in.ControlURL()+" as admin") {
		t.Fatalf("login: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "eyJ") {
		t.Error("login printed the token")
	}
	info, err := os.Stat(filepath.Join(tm.dir, "credentials.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credentials: %v %v", info, err)
	}
	if r := tm.run("wrong password\n", "login", "-u", "admin", "--password-stdin"); r.code != cli.ExitAuth ||
		!strings.Contains(r.stderr, "invalid username, password or MFA code") || !strings.Contains(r.stderr, "--mfa") {
		t.Errorf("bad password: %+v", r)
	}
	if r := tm.run("", "login", "-u", "admin"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--password-stdin") {
		t.Errorf("login without a terminal or --password-stdin: %+v", r)
	}
	var who struct {
		User struct{ Username string }
	}
	if err := json.Unmarshal([]byte(tm.ok("whoami", "-o", "json")), &who); err != nil || who.User.Username != "admin" {
		t.Errorf("whoami -o json: %+v %v", who, err)
	}

	// Submissions.
	var created struct {
		TaskID string `json:"task_id"`
	}
	if err := json.Unmarshal([]byte(tm.ok("workflow", "create", "servers", "--infra", "production", "--settings", "config.ncl", "-o", "json")), &created); err != nil || created.TaskID == "" {
		t.Fatalf("create servers -o json: %v", err)
	}
	failing := strings.TrimSpace(tm.ok("workflow", "create", "taskserv", "failing-kubernetes", "--infra", "prod"))
	if len(failing) != 26 {
		t.Fatalf("create taskserv printed %q, want the task id", failing)
	}
	r = tm.expect(cli.ExitInvalid, "workflow", "create", "servers", "--infra", "-rf")
	if !strings.Contains(r.stderr, "HTTP 422") || !strings.Contains(r.stderr, "  infra: ") {
		t.Errorf("422 shown as: %s", r.stderr)
	}
	tm.expect(cli.ExitUsage, "workflow", "create", "servers")
	tm.expect(cli.ExitUsage, "workflow", "create", "volcano", "--infra", "x")

	// Reads, tables and JSON.
	eventually := func(id, status string) {
		eventstest.Eventually(t, 30*time.Second, func() bool {
			var task client.Task
			r := tm.run("", "tasks", "get", id, "-o", "json")
			return r.code == 0 && json.Unmarshal([]byte(r.stdout), &task) == nil && task.Status == status
		}, "task %s never became %s", id, status)
	}
	eventually(created.TaskID, "Completed")
	eventually(failing, "Failed")
	var tasks []client.Task
	if err := json.Unmarshal([]byte(tm.ok("tasks", "ls", "-o", "json")), &tasks); err != nil || len(tasks) != 2 {
		t.Errorf("tasks ls -o json: %d tasks, %v", len(tasks), err)
	}
	table := tm.ok("tasks", "ls", "--status", "Failed")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.Contains(lines[1], failing) || strings.Contains(table, "\x1b[") {
		t.Errorf("tasks ls table:\n%s", table)
	}
	r = tm.expect(0, "tasks", "ls", "--limit", "1")
	if !strings.Contains(r.stderr, "showing 1-1 of 2") {
		t.Errorf("no note about the next page: %q", r.stderr)
	}
	get := tm.ok("tasks", "get", failing)
	if !strings.Contains(get, "Status:") || !strings.Contains(get, "Failed") || !strings.Contains(get, "simulated failure") {
		t.Errorf("tasks get:\n%s", get)
	}
	r = tm.expect(cli.ExitNotFound, "tasks", "get", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	if !strings.Contains(r.stderr, "not found (HTTP 404)") {
		t.Errorf("404 shown as %q", r.stderr)
	}
	tm.expect(cli.ExitConflict, "tasks", "cancel", created.TaskID)
	tm.expect(cli.ExitUsage, "tasks", "get")
	tm.expect(cli.ExitUsage, "tasks", "frobnicate")

	// watch on finished work returns its status at once.
	if r := tm.run("", "watch", created.TaskID); r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Errorf("watch of a completed task: %+v", r)
	}
	if r := tm.run("", "watch", failing); r.code != cli.ExitFailed || !strings.Contains(r.stdout, "Failed") {
		t.Errorf("watch of a failed task: %+v", r)
	}
	var final map[string]any
	if err := json.Unmarshal([]byte(tm.ok("watch", created.TaskID, "-o", "json")), &final); err != nil || final["status"] != "Completed" {
		t.Errorf("watch -o json: %v %v", final, err)
	}

	// Users and audit through the control center.
	r = tm.run("operator password 1\n", "users", "create", "ops", "--email", "ops@example.com", "--role", "operator", "--password-stdin", "-o", "json")
	var u client.User
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &u) != nil || u.Roles[0] != "operator" {
		t.Fatalf("users create: %+v", r)
	}
	tm.ok("users", "update", "ops", "--enabled=false")
	if out := tm.ok("users", "get", "ops"); !strings.Contains(out, "Enabled:") || !strings.Contains(out, "false") {
		t.Errorf("users get:\n%s", out)
	}
	var recs []client.AuditRecord
	if err := json.Unmarshal([]byte(tm.ok("audit", "ls", "--action", "user.update", "-o", "json")), &recs); err != nil || len(recs) != 1 {
		t.Errorf("audit ls: %v %v", recs, err)
	}

	t.Run("watch live", func(t *testing.T) {
		r := tm.run("", "workflow", "create", "servers", "--infra", "live", "--watch")
		if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
			t.Errorf("workflow create --watch: %+v", r)
		}
		r = tm.run("", "workflow", "create", "cluster", "failing-buildkit", "--infra", "live", "--watch")
		if r.code != cli.ExitFailed || !strings.Contains(r.stdout, "Failed") {
			t.Errorf("failing workflow --watch: %+v", r)
		}
	})

	tm.ok("logout")
	if _, err := os.Stat(filepath.Join(tm.dir, "credentials.json")); err != nil {
		t.Fatal(err)
	}
	tm.expect(cli.ExitAuth, "whoami")
}

// TestLoginWithMFA: a user enrols MFA with the CLI; a login without the
// code is refused with a hint, with --mfa it reads the code from the next
// line of stdin, and the next login asks for it by itself.
func TestLoginWithMFA(t *testing.T) {
	t.Parallel()
	in := apptest.Start(t, apptest.Config(t))
	admin := newTerm(t, in.OrchestratorURL(), in.ControlURL())
	if r := admin.run(apptest.AdminPassword+"\n", "login", "-u", "admin", "--password-stdin"); r.code != 0 {
		t.Fatalf("admin login: %+v", r)
	}
	const password = "a password for mfa"
	if r := admin.run(password+"\n", "users", "create", "mira", "--role", "viewer", "--password-stdin"); r.code != 0 {
		t.Fatalf("users create: %+v", r)
	}
	var secret string
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	mira := newTerm(t, in.OrchestratorURL(), in.ControlURL())
	if r := mira.run(password+"\n", "login", "-u", "mira", "--password-stdin"); r.code != 0 {
		t.Fatalf("login before MFA: %+v", r)
	}
	var enrol client.MFAEnrolment
	if err := json.Unmarshal([]byte(mira.ok("users", "mfa", "enroll", "mira", "-o", "json")), &enrol); err != nil || enrol.Secret == "" {
		t.Fatalf("enroll: %v", err)
	}
	secret = enrol.Secret
	mira.ok("users", "mfa", "verify", "mira", code(time.Now().Add(-30*time.Second)))

	r := mira.run(password+"\n", "login", "-u", "mira", "--password-stdin")
	if r.code != cli.ExitAuth || !strings.Contains(r.stderr, "--mfa") {
		t.Errorf("login without a code: %+v", r)
	}
	if r := mira.run(password+"\n"+code(time.Now())+"\n", "login", "-u", "mira", "--password-stdin", "--mfa"); r.code != 0 {
		t.Fatalf("login with --mfa: %+v", r)
	}
	// Remembered: the next login reads a code without being told.
	if r := mira.run(password+"\n"+code(time.Now().Add(30*time.Second))+"\n", "login", "-u", "mira", "--password-stdin"); r.code != 0 {
		t.Fatalf("second login: %+v", r)
	}
	var who struct {
		MFA bool `json:"mfa_enabled"`
	}
	if err := json.Unmarshal([]byte(mira.ok("whoami", "-o", "json")), &who); err != nil || !who.MFA {
		t.Errorf("whoami: %+v %v", who, err)
	}
}
