package handlers

// Fuzz targets of the request decoders. They sit inside the package: the
// decoders are unexported, and starting a server per input would leave
// the fuzzer no time to fuzz.

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"provisioning/auth"
	"provisioning/projections"
	"provisioning/workflow"
)

// wantClientError fails unless err is what a client is told about a bad
// body: 400, 413 or a 422 naming fields.
func wantClientError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	var v *workflow.ValidationError
	switch {
	case errors.As(err, &v):
		if len(v.Fields) == 0 {
			t.Fatalf("validation error without fields: %v", err)
		}
	case errors.As(err, &e):
		if e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for a bad body: %v", e.Status, err)
		}
	default:
		t.Fatalf("a bad body gave an internal error: %v", err)
	}
}

func post(body []byte) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
}

// FuzzLoginRequest: any body decodes to a client error or to a login
// request within the bounds the handler relies on.
func FuzzLoginRequest(f *testing.F) {
	f.Add([]byte(`{"username": "admin", "password": "password", "mfa_code": "123456"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req auth.LoginRequest
		err := DecodeJSON(post(body), &req)
		if err == nil {
			err = req.Check()
		}
		if err != nil {
			wantClientError(t, err)
			return
		}
		if strings.TrimSpace(req.Username) == "" || len(req.Username) > auth.MaxUsernameLen || req.Password == "" || len(req.MFACode) > 16 {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzPolicyRequest: any body decodes and validates to a client error or
// to a policy whose every rule compiles.
func FuzzPolicyRequest(f *testing.F) {
	ev, err := auth.NewEvaluator(projections.NewPolicies(), nil)
	if err != nil {
		f.Fatal(err)
	}
	rules := &auth.Service{Evaluator: ev}
	f.Add([]byte(`{"name": "new_policy", "version": "1.0.0", "rules": [{"effect": "Allow", "resource": "servers:*", "action": ["create", "read"], "condition": "user.role == 'admin'"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req auth.PolicyRequest
		err := DecodeJSON(post(body), &req)
		var p auth.NewPolicy
		if err == nil {
			p, err = rules.CheckPolicy("p", req)
		}
		if err != nil {
			wantClientError(t, err)
			return
		}
		if p.Name() == "" || p.Version() == "" || len(p.Rules()) == 0 || len(p.Rules()) > auth.MaxPolicyRules {
			t.Fatalf("accepted %+v", p)
		}
		for _, r := range p.Rules() {
			if r.Effect != auth.Allow && r.Effect != auth.Deny {
				t.Fatalf("effect %q was not made canonical", r.Effect)
			}
		}
		if _, err := ev.CheckRules(p.Rules()); err != nil {
			t.Fatalf("saved rules do not check again: %v", err)
		}
		// Deciding with the policy never panics.
		ev.DecideWith([]auth.Policy{{ID: "p", Rules: p.Rules(), Enabled: true}}, auth.Input{
			User: auth.User{ID: "u", Roles: []string{"viewer"}, Role: "viewer"}, Request: auth.Request{Action: "read", IP: "10.0.0.1"},
			Resource: auth.Resource{Kind: "servers", ID: "web-01"}})
	})
}
