package handlers_test

import (
	"strings"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
)

// instance is a running instance with admin clients of both APIs.
type instance struct {
	*app.Instance
	orch, cc *apptest.Client
}

func startInstance(t *testing.T, tune ...func(*app.Config)) instance {
	t.Helper()
	cfg := apptest.Config(t)
	for _, f := range tune {
		f(&cfg)
	}
	in, orch, cc := apptest.StartAdmin(t, cfg)
	return instance{in, orch, cc}
}

// anon is a client of the control center without a token.
func (i instance) anon() *apptest.Client { return apptest.NewClient(i.ControlURL()) }

// as returns clients of both APIs with token.
func (i instance) as(token string) (orch, cc *apptest.Client) {
	return apptest.NewClient(i.OrchestratorURL()).WithToken(token), apptest.NewClient(i.ControlURL()).WithToken(token)
}

const userPassword = "a long enough passphrase"

// createUser creates a user with roles through the API and returns its id.
func (i instance) createUser(t *testing.T, username string, roles ...string) string {
	t.Helper()
	return apptest.CreateUser(t, i.cc, username, userPassword, roles...)
}

func (i instance) login(t *testing.T, username string) string {
	t.Helper()
	return apptest.Login(t, i.ControlURL(), username, userPassword)
}

func wantStatus(t *testing.T, res apptest.Response, status int, mention string) {
	t.Helper()
	if res.Status != status || res.Success != (status < 400) || !strings.Contains(string(res.Raw), mention) {
		t.Fatalf("got %d %s, want %d mentioning %q", res.Status, res.Raw, status, mention)
	}
}

func TestLoginAnswersAsTheReference(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	res := in.anon().Do(t, "POST", "/auth/login", map[string]any{"username": "admin", "password": apptest.AdminPassword})
	wantStatus(t, res, 200, `"token"`)
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
		User      struct {
			ID       string   `json:"id"`
			Username string   `json:"username"`
			Email    *string  `json:"email"`
			Roles    []string `json:"roles"`
		} `json:"user"`
	}
	res.Decode(t, &out)
	if strings.Count(out.Token, ".") != 2 || out.User.ID == "" || out.User.Username != "admin" || out.User.Email == nil ||
		len(out.User.Roles) != 1 || out.User.Roles[0] != "admin" {
		t.Fatalf("login answer %s", res.Data)
	}
	if d := time.Until(out.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires_at %v is not an hour away", out.ExpiresAt)
	}
	users := in.cc.Do(t, "GET", "/users", nil)
	wantStatus(t, users, 200, `"last_login":"`)
	for _, field := range []string{`"id"`, `"username"`, `"email"`, `"roles"`, `"enabled"`, `"created_at"`, `"last_login"`} {
		if !strings.Contains(string(users.Data), field+":") {
			t.Errorf("users list lacks %s: %s", field, users.Data)
		}
	}
}

// Unknown users, wrong passwords and disabled users all get the same 401:
// nothing tells which it was.
func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	id := in.createUser(t, "dora", "viewer")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+id, map[string]any{"enabled": false}), 200, "User updated successfully")
	in.createUser(t, "victor", "viewer")
	var first string
	for _, tc := range []struct{ name, username, password string }{
		{"unknown user", "nobody", userPassword},
		{"wrong password", "victor", "not the password at all"},
		{"disabled user", "dora", userPassword},
		{"admin with a wrong password", "admin", "admin"},
	} {
		res := in.anon().Do(t, "POST", "/auth/login", map[string]any{"username": tc.username, "password": tc.password})
		if res.Status != 401 || res.Success || res.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: %d %s", tc.name, res.Status, res.Raw)
		}
		if first == "" {
			first = string(res.Raw)
		} else if string(res.Raw) != first {
			t.Fatalf("%s answers %s, another failure %s", tc.name, res.Raw, first)
		}
	}
	for _, tc := range []struct {
		name, body string
		status     int
		mention    string
	}{
		{"missing password", `{"username": "admin"}`, 422, "password"},
		{"unknown field", `{"username": "admin", "password": "x", "otp": "1"}`, 422, "otp"},
		{"code of the wrong type", `{"username": "admin", "password": "x", "mfa_code": 123456}`, 422, "mfa_code"},
		{"malformed", `{"username": `, 400, "malformed"},
	} {
		wantStatus(t, in.anon().Do(t, "POST", "/auth/login", tc.body), tc.status, tc.mention)
	}
	logs := in.cc.Do(t, "GET", "/audit/logs?action=auth.login", nil)
	for _, reason := range []string{"unknown user", "wrong password", "user disabled"} {
		if !strings.Contains(string(logs.Data), `"reason":"`+reason+`"`) {
			t.Errorf("no audited login failure %q in %s", reason, logs.Data)
		}
	}
}

func TestRefreshAndLogout(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	in.createUser(t, "olga", "operator")
	token := in.login(t, "olga")
	orch, cc := in.as(token)
	wantStatus(t, orch.Do(t, "GET", "/tasks", nil), 200, "")

	res := cc.Do(t, "POST", "/auth/refresh", map[string]any{"token": token})
	wantStatus(t, res, 200, `"expires_at"`)
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	res.Decode(t, &out)
	if out.Token == "" || out.Token == token || out.ExpiresAt.IsZero() {
		t.Fatalf("refresh answer %s", res.Data)
	}
	wantStatus(t, orch.Do(t, "GET", "/tasks", nil), 401, "authentication required")
	fresh, freshCC := in.as(out.Token)
	wantStatus(t, fresh.Do(t, "GET", "/tasks", nil), 200, "")

	// A refresh without a body refreshes the caller's own token.
	res = freshCC.Do(t, "POST", "/auth/refresh", nil)
	wantStatus(t, res, 200, `"token"`)
	res.Decode(t, &out)
	wantStatus(t, fresh.Do(t, "GET", "/tasks", nil), 401, "")
	last, lastCC := in.as(out.Token)

	// Someone else's token cannot be refreshed.
	wantStatus(t, in.cc.Do(t, "POST", "/auth/refresh", map[string]any{"token": out.Token}), 403, "another user")

	wantStatus(t, lastCC.Do(t, "POST", "/auth/logout", nil), 200, "Successfully logged out")
	wantStatus(t, last.Do(t, "GET", "/tasks", nil), 401, "")
	wantStatus(t, lastCC.Do(t, "POST", "/auth/refresh", nil), 401, "")
}

func apptestClient(base string) *apptest.Client { return apptest.NewClient(base) }

// Creating POSTs of the control center honour Idempotency-Key; logins
// never replay a stored answer (it would hold a token).
func TestControlCenterIdempotencyKey(t *testing.T) {
	t.Parallel()
	_, _, control := apptest.StartAdmin(t, apptest.Config(t))
	body := map[string]any{"username": "idem", "email": "idem@example.com", "password": "a-long-password-123", "roles": []string{"viewer"}, "enabled": true}
	a := control.Do(t, "POST", "/users", body, "Idempotency-Key", "u-1")
	b := control.Do(t, "POST", "/users", body, "Idempotency-Key", "u-1")
	if a.Status != 201 || b.Status != 201 || string(a.Data) != string(b.Data) || b.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s / %d %s", a.Status, a.Raw, b.Status, b.Raw)
	}
	login := map[string]string{"username": "idem", "password": "a-long-password-123"}
	l1 := control.Do(t, "POST", "/auth/login", login, "Idempotency-Key", "l-1")
	l2 := control.Do(t, "POST", "/auth/login", login, "Idempotency-Key", "l-1")
	if l1.Status != 200 || l2.Status != 200 || l2.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("logins: %d / %d replayed=%q", l1.Status, l2.Status, l2.Header.Get("Idempotent-Replayed"))
	}
}
