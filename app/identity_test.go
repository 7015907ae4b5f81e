package app_test

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events/eventstest"
)

func closeInstance(t *testing.T, in *app.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Two instances on one NATS deployment, started at once: one admin, one
// signing key, and what one does to a session the other enforces.
func TestInstancesShareIdentity(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	var ins [2]*app.Instance
	var wg sync.WaitGroup
	for i := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := apptest.Config(t)
			cfg.NATSURL = env.URL()
			cfg.AdminPassword = apptest.AdminPassword
			ins[i] = apptest.Start(t, cfg)
		}()
	}
	wg.Wait()
	a, b := ins[0], ins[1]
	token := apptest.Login(t, a.ControlURL(), "admin", apptest.AdminPassword)
	adminB := apptest.NewClient(b.ControlURL()).WithToken(token)
	users := adminB.Do(t, "GET", "/users", nil)
	if users.Status != 200 || users.Header.Get("X-Total-Count") != "1" {
		t.Fatalf("instance B: %d %s (want the one admin)", users.Status, users.Raw)
	}
	res := apptest.NewClient(a.ControlURL()).WithToken(token).Do(t, "POST", "/users",
		map[string]any{"username": "carol", "password": "a long enough passphrase", "roles": []string{"viewer"}})
	if res.Status != 201 {
		t.Fatalf("create on A: %d %s", res.Status, res.Raw)
	}
	var carol struct{ ID string }
	res.Decode(t, &carol)
	// A user created on A logs in on B at once.
	session := apptest.Login(t, b.ControlURL(), "carol", "a long enough passphrase")
	onA := apptest.NewClient(a.OrchestratorURL()).WithToken(session)
	if s := onA.Do(t, "GET", "/tasks", nil).Status; s != 200 {
		t.Fatalf("B's token on A: %d", s)
	}
	other := apptest.Login(t, b.ControlURL(), "carol", "a long enough passphrase")
	if s := apptest.NewClient(b.ControlURL()).WithToken(other).Do(t, "POST", "/auth/logout", nil).Status; s != 200 {
		t.Fatalf("logout on B: %d", s)
	}
	eventstest.Eventually(t, 5*time.Second, func() bool {
		return apptest.NewClient(a.OrchestratorURL()).WithToken(other).Do(t, "GET", "/tasks", nil).Status == 401
	}, "A still accepts a token logged out on B")
	if s := adminB.Do(t, "PUT", "/users/"+carol.ID, map[string]any{"enabled": false}).Status; s != 200 {
		t.Fatalf("disable on B: %d", s)
	}
	eventstest.Eventually(t, 5*time.Second, func() bool { return onA.Do(t, "GET", "/tasks", nil).Status == 401 },
		"A still accepts the token of a user disabled on B")
}

// A restart keeps the signing key (old tokens still verify), the users
// and the revocations; the admin is not created again.
func TestRestartKeepsIdentity(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	var printed bytes.Buffer
	cfg.AdminPassword = "" // generate one
	cfg.BootstrapOutput = &printed
	in, err := app.Start(context.Background(), cfg, apptest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Created user admin with password (\S+)`).FindStringSubmatch(printed.String())
	if m == nil {
		closeInstance(t, in)
		t.Fatalf("no generated password printed: %q", printed.String())
	}
	password := m[1]
	kept := apptest.Login(t, in.ControlURL(), "admin", password)
	revoked := apptest.Login(t, in.ControlURL(), "admin", password)
	if s := apptest.NewClient(in.ControlURL()).WithToken(revoked).Do(t, "POST", "/auth/logout", nil).Status; s != 200 {
		t.Fatalf("logout: %d", s)
	}
	closeInstance(t, in)

	printed.Reset()
	in2 := apptest.Start(t, cfg)
	if printed.Len() != 0 {
		t.Fatalf("a restart printed %q", printed.String())
	}
	if s := apptest.NewClient(in2.OrchestratorURL()).WithToken(kept).Do(t, "GET", "/tasks", nil).Status; s != 200 {
		t.Fatalf("a token from before the restart: %d", s)
	}
	if s := apptest.NewClient(in2.OrchestratorURL()).WithToken(revoked).Do(t, "GET", "/tasks", nil).Status; s != 401 {
		t.Fatalf("a token revoked before the restart: %d", s)
	}
	apptest.Login(t, in2.ControlURL(), "admin", password)
}

func TestWeakAdminPasswordStopsTheStart(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.AdminPassword = "admin"
	in, err := app.Start(context.Background(), cfg, apptest.Logger(t))
	if err == nil {
		closeInstance(t, in)
		t.Fatal("started with a 5-character admin password")
	}
}
