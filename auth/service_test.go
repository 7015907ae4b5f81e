package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/projections"
	"provisioning/workflow"
)

// identity is a Service over a real store and the identity views, run
// by their own runner.
type identity struct {
	*auth.Service
	users *projections.Users
}

func startIdentity(t *testing.T) identity {
	t.Helper()
	env := eventstest.Start(t)
	ctx := context.Background()
	if _, err := auth.EnsureSigningKey(ctx, env.Store, testRing); err != nil {
		t.Fatal(err)
	}
	names, err := auth.OpenNames(ctx, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := auth.OpenCodeGuard(ctx, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	users, policies, keys := projections.NewUsers(), projections.NewPolicies(), projections.NewSigningKeys()
	runner := projections.NewRunner(env.Store, events.IAMStream, nil, slog.New(slog.DiscardHandler), users, policies, keys)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("runner: %v", err)
		}
	})
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := runner.WaitForLatest(wait); err != nil {
		t.Fatal(err)
	}
	evaluator, err := auth.NewEvaluator(policies, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &auth.Tokens{Keys: keys, Secrets: testRing, Issuer: "provisioning", TTL: time.Hour}
	revocations := auth.NewLocalRevocations()
	return identity{Service: &auth.Service{
		Store: env.Store, Users: users, Policies: policies, View: runner,
		Hasher: auth.NewHasher(cheap, 2), Names: names, Tokens: tokens, Codes: codes, Revocations: revocations,
		Authenticator: &auth.Authenticator{Tokens: tokens, Revocations: revocations, Users: users},
		Evaluator:     evaluator, Secrets: testRing,
	}, users: users}
}

const password = "a long enough passphrase"

func (id identity) create(t *testing.T, username, email string, roles ...string) auth.UserCreated {
	t.Helper()
	created, err := id.tryCreate(username, email, roles...)
	if err != nil {
		t.Fatalf("create %s: %v", username, err)
	}
	return created
}

func (id identity) tryCreate(username, email string, roles ...string) (auth.UserCreated, error) {
	u, err := auth.CreateUserRequest{Username: username, Email: email, Password: password, Roles: roles}.User(events.NewID())
	if err != nil {
		return auth.UserCreated{}, err
	}
	return id.CreateUser(context.Background(), auth.System, u)
}

// Usernames and emails are unique whatever their case, and a creation
// that fails on its email gives its username back.
func TestCreateUserKeepsNamesUnique(t *testing.T) {
	t.Parallel()
	id := startIdentity(t)
	id.create(t, "alice", "alice@example.com")
	_, err := id.tryCreate("ALICE", "")
	if !errors.Is(err, auth.ErrUsernameTaken) || !errors.Is(err, auth.ErrTaken) || err.Error() != "username already taken by another user" {
		t.Fatalf("same username: %v", err)
	}
	_, err = id.tryCreate("bob", "Alice@Example.com")
	if !errors.Is(err, auth.ErrEmailTaken) || err.Error() != "email already taken by another user" {
		t.Fatalf("same email: %v", err)
	}
	id.create(t, "bob", "bob@example.com") // the failed bob released the name
	var invalid *workflow.ValidationError
	if _, err := (auth.CreateUserRequest{Username: "-x", Password: "short"}).User(events.NewID()); !errors.As(err, &invalid) || len(invalid.Fields) != 2 {
		t.Fatalf("bad request: %v", err)
	}
}

// There is always an enabled admin: the last one can be neither deleted,
// disabled nor demoted, until another admin exists.
func TestTheLastAdminStays(t *testing.T) {
	t.Parallel()
	id := startIdentity(t)
	ctx := context.Background()
	root := id.create(t, "root", "", auth.RoleAdmin)
	disabled, viewer := false, []string{auth.RoleViewer}
	for name, change := range map[string]func() error{
		"delete": func() error { _, err := id.DeleteUser(ctx, auth.System, root.ID); return err },
		"disable": func() error {
			return id.UpdateUser(ctx, auth.System, root.ID, auth.UpdateUserRequest{Enabled: &disabled})
		},
		"demote": func() error { return id.UpdateUser(ctx, auth.System, root.ID, auth.UpdateUserRequest{Roles: &viewer}) },
	} {
		if err := change(); !errors.Is(err, auth.ErrLastAdmin) {
			t.Errorf("%s: %v, want ErrLastAdmin", name, err)
		}
	}
	id.create(t, "second", "", auth.RoleAdmin)
	gone, err := id.DeleteUser(ctx, auth.System, root.ID)
	if err != nil || gone.Username != "root" {
		t.Fatalf("delete with another admin: %+v, %v", gone, err)
	}
	if _, ok := id.users.Get(root.ID); ok {
		t.Fatal("the view still has the deleted user when DeleteUser returned")
	}
	if _, err := id.DeleteUser(ctx, auth.System, root.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	id.create(t, "root", "") // its username was released
}

// Failed logins all say the same to the caller, and the reason only to
// the audit log.
func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	id := startIdentity(t)
	ctx := context.Background()
	alice := id.create(t, "alice", "", auth.RoleViewer)
	for _, c := range []struct {
		user, password, reason, userID string
	}{
		{"alice", "not the passphrase", "wrong password", alice.ID},
		{"nobody", password, "unknown user", ""},
	} {
		_, err := id.Login(ctx, auth.System, auth.LoginRequest{Username: c.user, Password: c.password})
		var refused *auth.LoginRefused
		if !errors.As(err, &refused) || !errors.Is(err, auth.ErrBadCredentials) || refused.Reason != c.reason || refused.UserID != c.userID {
			t.Errorf("%s: %v (%+v)", c.user, err, refused)
		}
		if err != nil && err.Error() != "invalid username, password or MFA code" {
			t.Errorf("%s: the caller is told %q", c.user, err)
		}
	}
	session, err := id.Login(ctx, auth.System, auth.LoginRequest{Username: "Alice", Password: password})
	if err != nil || session.Token == "" || session.User == nil || session.User.ID != alice.ID || session.TokenID == "" {
		t.Fatalf("login: %+v, %v", session, err)
	}
	p, err := id.Authenticator.Authenticate(ctx, session.Token)
	if err != nil {
		t.Fatal(err)
	}
	refreshed, revoked, err := id.Refresh(ctx, auth.System, p, "")
	if err != nil || revoked != session.TokenID || refreshed.User != nil {
		t.Fatalf("refresh: %+v %q %v", refreshed, revoked, err)
	}
	if _, err := id.Authenticator.Authenticate(ctx, session.Token); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("the refreshed token still works: %v", err)
	}
	if _, _, err := id.Refresh(ctx, auth.System, p, "not a token"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("refresh of garbage: %v", err)
	}
}

// A policy change that would stop its author from managing policies is
// refused, whatever the author's role; other changes are stored.
func TestPolicyChangesKeepTheirAuthorIn(t *testing.T) {
	t.Parallel()
	id := startIdentity(t)
	ctx := context.Background()
	author := auth.Caller{Principal: &auth.Principal{UserID: "u1", Username: "root", Roles: []string{auth.RoleAdmin}}, Actor: "user:u1", IP: "10.0.0.1"}
	name := "no policy changes"
	lockout := []events.PolicyRule{{Effect: "deny", Resource: "policies:*", Action: []string{"update"}}}
	p, err := id.CheckPolicy(events.NewID(), auth.PolicyRequest{Name: &name, Rules: &lockout})
	if err != nil {
		t.Fatal(err)
	}
	var invalid *workflow.ValidationError
	if _, err := id.CreatePolicy(ctx, author, p); !errors.As(err, &invalid) || invalid.Fields[0].Field != "rules" {
		t.Fatalf("lock-out: %v", err)
	}
	harmless := []events.PolicyRule{{Effect: "Deny", Resource: "servers:*", Action: []string{"delete"}}}
	p, err = id.CheckPolicy(events.NewID(), auth.PolicyRequest{Name: &name, Rules: &harmless})
	if err != nil {
		t.Fatal(err)
	}
	created, err := id.CreatePolicy(ctx, author, p)
	if err != nil || created.Version != "1.0.0" {
		t.Fatalf("create: %+v, %v", created, err)
	}
	if err := id.UpdatePolicy(ctx, author, created.ID, auth.PolicyRequest{Rules: &lockout}); !errors.As(err, &invalid) {
		t.Fatalf("update into a lock-out: %v", err)
	}
	if err := id.UpdatePolicy(ctx, author, events.NewID(), auth.PolicyRequest{Rules: &harmless}); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("update of no policy: %v", err)
	}
	gone, err := id.DeletePolicy(ctx, author, created.ID)
	if err != nil || gone.Name != name {
		t.Fatalf("delete: %+v, %v", gone, err)
	}
}

// Wrong current passwords and wrong MFA codes count against the account
// like failed logins: past the limit every attempt of that account is
// refused with a Lockout, the right password's too.
func TestProofsOfOneAccountBackOff(t *testing.T) {
	t.Parallel()
	id := startIdentity(t)
	id.Service.Backoff = &auth.Backoff{Limit: 2, Window: time.Hour}
	ctx := context.Background()
	u := id.create(t, "carol", "")
	for i := 0; i < 2; i++ {
		err := id.ChangePassword(ctx, auth.System, u.ID, auth.PasswordChange{CurrentPassword: "not the password!", Password: "a new long passphrase"})
		var invalid *workflow.ValidationError
		if !errors.As(err, &invalid) || invalid.Fields[0].Field != "current_password" {
			t.Fatalf("wrong current password %d: %v", i+1, err)
		}
	}
	err := id.ChangePassword(ctx, auth.System, u.ID, auth.PasswordChange{CurrentPassword: password, Password: "a new long passphrase"})
	if !errors.Is(err, auth.ErrAccountLocked) {
		t.Fatalf("the right password after two wrong ones: %v, want ErrAccountLocked", err)
	}
	_, err = id.Login(ctx, auth.System, auth.LoginRequest{Username: "Carol", Password: password})
	var refused *auth.LoginRefused
	if !errors.As(err, &refused) || !errors.Is(err, auth.ErrAccountLocked) {
		t.Fatalf("a login of the locked account: %v", err)
	}
	if _, err := id.Login(ctx, auth.System, auth.LoginRequest{Username: "nobody", Password: password}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("another name is not locked: %v", err)
	}
}
