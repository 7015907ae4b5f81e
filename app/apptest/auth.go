package apptest

import (
	"net/http"
	"testing"

	"provisioning/app"
	"provisioning/handlers"
)

// AdminPassword is the password of the bootstrap admin of instances
// started with StartAdmin (and of `serve` processes given AdminEnv).
const AdminPassword = "apptest-admin-password"

// AdminEnv is the environment that gives a `serve` process's bootstrap
// admin AdminPassword.
var AdminEnv = []string{"PROVISIONING_ADMIN_PASSWORD=" + AdminPassword}

// Login logs in at a control center and returns the token, failing the
// test when the login does not succeed. mfaCode is sent when given.
func Login(tb testing.TB, controlURL, username, password string, mfaCode ...string) string {
	tb.Helper()
	body := map[string]string{"username": username, "password": password}
	if len(mfaCode) > 0 {
		body["mfa_code"] = mfaCode[0]
	}
	c := NewClient(controlURL)
	c.API = handlers.ControlCenterAPI
	res := c.Do(tb, http.MethodPost, "/auth/login", body)
	if res.Status != http.StatusOK {
		tb.Fatalf("login %s: %d %s", username, res.Status, res.Raw)
	}
	var out struct {
		Token string `json:"token"`
	}
	res.Decode(tb, &out)
	return out.Token
}

// WithToken returns a client of the same API that sends token.
func (c *Client) WithToken(token string) *Client {
	d := c.clone()
	d.Header.Set("Authorization", "Bearer "+token)
	return d
}

// StartAdmin starts an instance like Start, its bootstrap admin having
// AdminPassword (unless cfg names one), and returns clients of the
// orchestrator and of the control center signed in as that admin.
func StartAdmin(tb testing.TB, cfg app.Config) (in *app.Instance, orchestrator, control *Client) {
	tb.Helper()
	if cfg.AdminPassword == "" {
		cfg.AdminPassword = AdminPassword
	}
	in = Start(tb, cfg)
	token := Login(tb, in.ControlURL(), "admin", cfg.AdminPassword)
	return in, NewClient(in.OrchestratorURL()).WithToken(token), NewClient(in.ControlURL()).WithToken(token)
}

// Login signs in at the process's control center.
func (p *Process) Login(tb testing.TB, username, password string) string {
	tb.Helper()
	return Login(tb, p.ControlURL, username, password)
}

// AdminClient returns a client of in's orchestrator signed in as the
// bootstrap admin, whose password must be AdminPassword.
func AdminClient(tb testing.TB, in *app.Instance) *Client {
	tb.Helper()
	return NewClient(in.OrchestratorURL()).WithToken(Login(tb, in.ControlURL(), "admin", AdminPassword))
}

// CreateUser creates a user with password and roles through control (a
// client of the control center signed in as an admin) and returns its id,
// failing the test otherwise.
func CreateUser(tb testing.TB, control *Client, username, password string, roles ...string) string {
	tb.Helper()
	if roles == nil {
		roles = []string{}
	}
	res := control.Do(tb, http.MethodPost, "/users", map[string]any{"username": username, "email": username + "@example.com", "password": password, "roles": roles})
	if res.Status != http.StatusCreated {
		tb.Fatalf("create user %s: %d %s", username, res.Status, res.Raw)
	}
	var out struct {
		ID string `json:"id"`
	}
	res.Decode(tb, &out)
	return out.ID
}
