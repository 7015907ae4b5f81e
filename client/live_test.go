package client_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/client"
	"provisioning/events/eventstest"
)

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	os.Exit(m.Run())
}

// live starts an instance and returns a client logged in as its admin.
func live(t *testing.T) *client.Client {
	t.Helper()
	in := apptest.Start(t, apptest.Config(t))
	// Every answer the SDK receives is checked against the OpenAPI
	// descriptions.
	hc := &http.Client{Timeout: time.Minute, Transport: apptest.Transport(t, nil)}
	c, err := client.New(in.OrchestratorURL(), in.ControlURL(), client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Login(context.Background(), client.LoginRequest{Username: "admin", Password: apptest.AdminPassword})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if s.User == nil || s.User.Username != "admin" || s.ExpiresAt.Before(time.Now()) {
		t.Fatalf("session = %+v", s)
	}
	return c
}

func TestLiveTasks(t *testing.T) {
	t.Parallel()
	c := live(t)
	ctx := context.Background()

	id, err := c.CreateServers(ctx, client.ServersRequest{Infra: "production", Settings: "config.ncl", Wait: true})
	if err != nil {
		t.Fatalf("create servers: %v", err)
	}
	failing, err := c.CreateTaskserv(ctx, client.TaskservRequest{Taskserv: "failing-kubernetes", Infra: "prod"})
	if err != nil {
		t.Fatalf("create taskserv: %v", err)
	}
	if _, err := c.CreateCluster(ctx, client.ClusterRequest{ClusterType: "buildkit", Infra: "production"}); err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	finished := func(id, status string) {
		t.Helper()
		eventstest.Eventually(t, 30*time.Second, func() bool {
			task, err := c.GetTask(ctx, id)
			return err == nil && task.Status == status
		}, "task %s never became %s", id, status)
	}
	finished(id, client.StatusCompleted)
	finished(failing, client.StatusFailed)

	task, err := c.GetTask(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.Name != "create_servers" || task.StartedAt == nil || task.CompletedAt == nil || task.Progress != 100 {
		t.Errorf("task = %+v", task)
	}
	if strings.Join(task.Args, " ") != "--infra production --settings config.ncl --wait" {
		t.Errorf("args = %q", task.Args)
	}

	// Every task, two to a page, through the iterator.
	seen := map[string]bool{}
	for task, err := range c.Tasks(ctx, client.TaskFilter{ListOptions: client.ListOptions{Limit: 2}}) {
		if err != nil {
			t.Fatalf("iterate: %v", err)
		}
		if seen[task.ID] {
			t.Errorf("task %s twice", task.ID)
		}
		seen[task.ID] = true
	}
	if len(seen) != 3 {
		t.Errorf("iterated %d tasks, want 3", len(seen))
	}
	page, err := c.ListTasks(ctx, client.TaskFilter{Status: client.StatusFailed})
	if err != nil || page.Total != 1 || len(page.Items) != 1 || page.Items[0].ID != failing || page.More() {
		t.Errorf("failed tasks = %+v, %v", page, err)
	}
	first, err := c.ListTasks(ctx, client.TaskFilter{ListOptions: client.ListOptions{Limit: 2}})
	if err != nil || first.Total != 3 || !first.More() || first.Limit != 2 {
		t.Errorf("first page = %+v, %v", first, err)
	}

	if _, _, err := c.CancelTask(ctx, id); !errors.Is(err, client.ErrConflict) {
		t.Errorf("cancel of a completed task: %v, want 409", err)
	}
}

func TestLiveErrors(t *testing.T) {
	t.Parallel()
	c := live(t)
	ctx := context.Background()

	_, err := c.GetTask(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "not found") || apiErr.RequestID == "" {
		t.Errorf("unknown task: %#v", err)
	}
	if !errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrConflict) {
		t.Errorf("errors.Is on %v", err)
	}

	_, err = c.CreateServers(ctx, client.ServersRequest{Infra: "-rf"})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 422 || len(apiErr.Fields) != 1 || apiErr.Fields[0].Field != "infra" {
		t.Errorf("bad infra: %#v", err)
	}

	anonymous, err := client.New(c.OrchestratorURL(), c.ControlURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anonymous.ListTasks(ctx, client.TaskFilter{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("without a token: %v", err)
	}
	if msg, err := anonymous.Health(ctx); err != nil || msg != "Orchestrator is healthy" {
		t.Errorf("health = %q, %v", msg, err)
	}
	if _, err := anonymous.Login(ctx, client.LoginRequest{Username: "admin", Password: "wrong password"}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("bad password: %v", err)
	}
}

func TestLiveIdempotencyKey(t *testing.T) {
	t.Parallel()
	c := live(t)
	ctx := context.Background()
	req := client.ServersRequest{Infra: "staging"}
	a, err := c.CreateServers(ctx, req, client.WithIdempotencyKey("deploy-42"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateServers(ctx, req, client.WithIdempotencyKey("deploy-42"))
	if err != nil || a != b {
		t.Errorf("repeat with the same key: %s, %v; want %s", b, err, a)
	}
	page, err := c.ListTasks(ctx, client.TaskFilter{})
	if err != nil || page.Total != 1 {
		t.Errorf("tasks after a repeated submission: %+v, %v", page, err)
	}
}

func TestLiveSessionAndUsers(t *testing.T) {
	t.Parallel()
	c := live(t)
	ctx := context.Background()
	old := c.Session().Token

	refreshed := make(chan client.Session, 1)
	c2, err := client.New(c.OrchestratorURL(), c.ControlURL(), client.WithSession(c.Session()),
		client.OnRefresh(func(s client.Session) { refreshed <- s }))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c2.Refresh(ctx)
	if err != nil || s.Token == old || s.User == nil {
		t.Fatalf("refresh = %+v, %v", s, err)
	}
	if got := <-refreshed; got.Token != s.Token {
		t.Errorf("OnRefresh got %q", got.Token)
	}
	if _, err := c.ListUsers(ctx, client.UserFilter{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("the refreshed-away token still works: %v", err)
	}

	enabled := false
	u, err := c2.CreateUser(ctx, client.CreateUserRequest{Username: "ops", Email: "ops@example.com",
		Password: "a long enough password", Roles: []string{"operator"}, Enabled: &enabled})
	if err != nil || u.ID == "" || u.Enabled {
		t.Fatalf("create user = %+v, %v", u, err)
	}
	on := true
	if _, err := c2.UpdateUser(ctx, u.ID, client.UpdateUserRequest{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	got, err := c2.GetUser(ctx, u.ID)
	if err != nil || !got.Enabled || got.Roles[0] != "operator" {
		t.Errorf("user = %+v, %v", got, err)
	}
	operators, err := c2.ListUsers(ctx, client.UserFilter{Role: "operator"})
	if err != nil || operators.Total != 1 {
		t.Errorf("operators = %+v, %v", operators, err)
	}
	if _, err := c2.CreateUser(ctx, client.CreateUserRequest{Username: "ops", Password: "another long password"}); !errors.Is(err, client.ErrConflict) {
		t.Errorf("duplicate username: %v", err)
	}

	name, version := "deny_nights", "1.0.0"
	rules := []client.PolicyRule{{Effect: "Deny", Resource: "servers:*", Action: []string{"create"}, Condition: "user.username == 'nobody'"}}
	p, err := c2.CreatePolicy(ctx, client.PolicyRequest{Name: &name, Version: &version, Rules: &rules})
	if err != nil || p.ID == "" || p.Name != name {
		t.Fatalf("create policy = %+v, %v", p, err)
	}
	policies, err := c2.ListPolicies(ctx, client.ListOptions{})
	if err != nil || len(policies.Items) != 1 || policies.Items[0].Rules[0].Condition == "" {
		t.Errorf("policies = %+v, %v", policies, err)
	}
	if _, err := c2.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}

	n := 0
	for rec, err := range c2.AuditRecords(ctx, client.AuditFilter{Action: "user.create", ListOptions: client.ListOptions{Limit: 1}}) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Action != "user.create" {
			t.Errorf("record %+v", rec)
		}
		n++
	}
	if n != 2 { // the success and the conflict
		t.Errorf("%d user.create records, want 2", n)
	}

	if err := c2.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if c2.Session().Token != "" {
		t.Error("logout kept the token")
	}
}

// TestLiveSubscribe follows a task over the orchestrator's /ws.
func TestLiveSubscribe(t *testing.T) {
	t.Parallel()
	c := live(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, client.SubscribeOptions{Events: []string{client.EventTaskStatusChanged}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	id, err := c.CreateServers(ctx, client.ServersRequest{Infra: "production"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var d client.TaskStatusData
		if err := ev.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if ev.Type != client.EventTaskStatusChanged || ev.Seq == 0 {
			t.Fatalf("frame %+v", ev)
		}
		if d.TaskID == id && client.Terminal(d.Status) {
			if !strings.EqualFold(d.Status, client.StatusCompleted) {
				t.Errorf("status %s", d.Status)
			}
			return
		}
	}
}
