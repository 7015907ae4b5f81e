package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/projections"
)

// policyView is a policy view fed directly with events.
type policyView struct {
	*projections.Policies
	seq uint64
}

func newPolicyView() *policyView { return &policyView{Policies: projections.NewPolicies()} }

func (v *policyView) put(t *testing.T, id string, enabled bool, rules ...events.PolicyRule) {
	t.Helper()
	typ := events.PolicyCreated
	if _, ok := v.Get(id); ok {
		typ = events.PolicyUpdated
	}
	v.apply(t, typ, id, events.PolicyCreatedData{PolicyID: id, Name: id, Version: "1", Rules: rules, Enabled: enabled})
}

func (v *policyView) apply(t *testing.T, typ events.Type, id string, data any) {
	t.Helper()
	e, err := events.New(typ, id, data)
	if err != nil {
		t.Fatal(err)
	}
	v.seq++
	e.Seq, e.Time = v.seq, time.Now()
	if err := v.Apply(e); err != nil {
		t.Fatal(err)
	}
}

func newEvaluator(t testing.TB, v *policyView) *auth.Evaluator {
	e, err := auth.NewEvaluator(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ask(roles []string, kind, action, id, ip string) auth.Input {
	u := auth.User{ID: "u1", Username: "alice", Roles: roles}
	if len(roles) > 0 {
		u.Role = roles[0]
	}
	return auth.Input{User: u, Request: auth.Request{Method: "POST", Path: "/x", IP: ip, Action: action}, Resource: auth.Resource{Kind: kind, ID: id}}
}

func TestBuiltinRoles(t *testing.T) {
	t.Parallel()
	e := newEvaluator(t, newPolicyView())
	cases := []struct {
		name         string
		roles        []string
		kind, action string
		id           string
		want         bool
	}{
		{"admin manages users", []string{"admin"}, "users", "create", "", true},
		{"admin reads the audit log", []string{"admin"}, "audit", "read", "", true},
		{"operator submits", []string{"operator"}, "servers", "create", "", true},
		{"operator runs batches", []string{"operator"}, "batches", "create", "", true},
		{"operator cancels", []string{"operator"}, "tasks", "cancel", "t1", true},
		{"operator checkpoints", []string{"operator"}, "checkpoints", "create", "", true},
		{"operator rolls back", []string{"operator"}, "rollbacks", "execute", "", true},
		{"operator reads tasks", []string{"operator"}, "tasks", "read", "", true},
		{"operator may not manage users", []string{"operator"}, "users", "create", "", false},
		{"operator may not change policies", []string{"operator"}, "policies", "update", "p", false},
		{"operator may not read the audit log", []string{"operator"}, "audit", "read", "", false},
		{"operator may not add webhooks", []string{"operator"}, "webhooks", "create", "", false},
		{"viewer reads tasks", []string{"viewer"}, "tasks", "read", "", true},
		{"viewer reads metrics", []string{"viewer"}, "system", "read", "", true},
		{"viewer may not submit", []string{"viewer"}, "servers", "create", "", false},
		{"viewer may not cancel", []string{"viewer"}, "tasks", "cancel", "t1", false},
		{"viewer may not read users", []string{"viewer"}, "users", "read", "", false},
		{"no role reads nothing", nil, "tasks", "read", "", false},
		{"anyone logs out", nil, "auth", "logout", "", true},
		{"anyone reads themself", nil, "users", "read", "u1", true},
		{"anyone enrols their own MFA", []string{"viewer"}, "users", "mfa", "u1", true},
		{"nobody enrols another's MFA", []string{"viewer"}, "users", "mfa", "u2", false},
		{"unknown role grants nothing", []string{"auditor"}, "tasks", "read", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.Decide(ask(tc.roles, tc.kind, tc.action, tc.id, "10.0.0.1")); got.Allowed != tc.want {
				t.Fatalf("Decide = %+v, want allowed=%v", got, tc.want)
			}
		})
	}
}

func TestDenyOverridesOperator(t *testing.T) {
	t.Parallel()
	v := newPolicyView()
	e := newEvaluator(t, v)
	in := ask([]string{"operator"}, "servers", "create", "", "10.0.0.1")
	if !e.Decide(in).Allowed {
		t.Fatal("an operator may create servers before any policy")
	}
	v.put(t, "p1", true, events.PolicyRule{Effect: "Deny", Resource: "servers:*", Action: []string{"create"}, Condition: "'operator' in user.roles"})
	d := e.Decide(in)
	if d.Allowed || !strings.Contains(d.Reason, "p1") {
		t.Fatalf("Decide = %+v, want denied by p1", d)
	}
	if !e.Decide(ask([]string{"operator"}, "tasks", "read", "", "10.0.0.1")).Allowed {
		t.Fatal("the deny must not reach other resources")
	}
	// Deny wins over an explicit allow, and over admin.
	v.put(t, "p2", true, events.PolicyRule{Effect: "Allow", Resource: "servers:*", Action: []string{"*"}})
	if e.Decide(in).Allowed {
		t.Fatal("an allow must not override a deny")
	}
	v.put(t, "p1", false, events.PolicyRule{Effect: "Deny", Resource: "servers:*", Action: []string{"create"}})
	if !e.Decide(in).Allowed {
		t.Fatal("a disabled policy must not deny")
	}
	v.apply(t, events.PolicyDeleted, "p2", events.PolicyDeletedData{PolicyID: "p2"})
	v.put(t, "p1", true, events.PolicyRule{Effect: "deny", Resource: "*:*", Action: []string{"*"}})
	if e.Decide(ask([]string{"admin"}, "tasks", "read", "", "")).Allowed {
		t.Fatal("a deny on everything must hold for admins too")
	}
}

func TestConditions(t *testing.T) {
	t.Parallel()
	v := newPolicyView()
	e := newEvaluator(t, v)
	v.put(t, "by-role", true, events.PolicyRule{Effect: "Allow", Resource: "users:*", Action: []string{"read"}, Condition: "user.role == 'auditor'"})
	v.put(t, "by-ip", true, events.PolicyRule{Effect: "Deny", Resource: "servers:*", Action: []string{"create"}, Condition: "!request.ip.inCIDR('10.0.0.0/8')"})
	v.put(t, "by-id", true, events.PolicyRule{Effect: "Allow", Resource: "tasks:build-*", Action: []string{"cancel"}})
	cases := []struct {
		name string
		in   auth.Input
		want bool
	}{
		{"user.role matches", ask([]string{"auditor", "viewer"}, "users", "read", "", ""), true},
		{"user.role is the first role", ask([]string{"viewer", "auditor"}, "users", "read", "", ""), false},
		{"request.ip inside", ask([]string{"operator"}, "servers", "create", "", "10.1.2.3"), true},
		{"request.ip outside", ask([]string{"operator"}, "servers", "create", "", "192.0.2.7"), false},
		{"request.ip v6", ask([]string{"operator"}, "servers", "create", "", "2001:db8::1"), false},
		{"resource pattern matches", ask([]string{"viewer"}, "tasks", "cancel", "build-7", ""), true},
		{"resource pattern misses", ask([]string{"viewer"}, "tasks", "cancel", "deploy-7", ""), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.Decide(tc.in); got.Allowed != tc.want {
				t.Fatalf("Decide = %+v, want allowed=%v", got, tc.want)
			}
		})
	}
}

// A condition that fails at run time is false for an Allow and true for
// a Deny: errors never open a door.
func TestRuntimeErrorsFailClosed(t *testing.T) {
	t.Parallel()
	v := newPolicyView()
	e := newEvaluator(t, v)
	v.put(t, "allow", true, events.PolicyRule{Effect: "Allow", Resource: "users:*", Action: []string{"read"}, Condition: "user.roles[3] == 'x'"})
	if e.Decide(ask([]string{"viewer"}, "users", "read", "", "")).Allowed {
		t.Fatal("an erroring allow allowed")
	}
	v.put(t, "deny", true, events.PolicyRule{Effect: "Deny", Resource: "tasks:*", Action: []string{"read"}, Condition: "request.ip.inCIDR('not-a-cidr')"})
	if e.Decide(ask([]string{"viewer"}, "tasks", "read", "", "10.0.0.1")).Allowed {
		t.Fatal("an erroring deny did not deny")
	}
}

func TestCheckRules(t *testing.T) {
	t.Parallel()
	e := newEvaluator(t, newPolicyView())
	rule := func(mod func(*events.PolicyRule)) []events.PolicyRule {
		r := events.PolicyRule{Effect: "Allow", Resource: "servers:*", Action: []string{"create", "read"}, Condition: "user.role == 'admin'"}
		mod(&r)
		return []events.PolicyRule{r}
	}
	cases := []struct {
		name  string
		rules []events.PolicyRule
		field string
		msg   string
	}{
		{"the reference's example", rule(func(*events.PolicyRule) {}), "", ""},
		{"no condition", rule(func(r *events.PolicyRule) { r.Condition = "" }), "", ""},
		{"syntax error", rule(func(r *events.PolicyRule) { r.Condition = "user.role = 'admin'" }), "rules[0].condition", "Syntax error"},
		{"unknown field", rule(func(r *events.PolicyRule) { r.Condition = "user.rol == 'admin'" }), "rules[0].condition", "undefined field 'rol'"},
		{"unknown variable", rule(func(r *events.PolicyRule) { r.Condition = "account.id == 'x'" }), "rules[0].condition", "undeclared reference"},
		{"not boolean", rule(func(r *events.PolicyRule) { r.Condition = "user.role" }), "rules[0].condition", "boolean"},
		{"type error", rule(func(r *events.PolicyRule) { r.Condition = "user.roles == 'admin'" }), "rules[0].condition", "no matching overload"},
		{"too long", rule(func(r *events.PolicyRule) { r.Condition = strings.Repeat("true && ", 400) + "true" }), "rules[0].condition", "at most"},
		{"bad effect", rule(func(r *events.PolicyRule) { r.Effect = "Maybe" }), "rules[0].effect", "Allow or Deny"},
		{"no kind", rule(func(r *events.PolicyRule) { r.Resource = "servers" }), "rules[0].resource", "kind:pattern"},
		{"unknown kind", rule(func(r *events.PolicyRule) { r.Resource = "server:*" }), "rules[0].resource", "unknown"},
		{"no action", rule(func(r *events.PolicyRule) { r.Action = nil }), "rules[0].action", "at least one"},
		{"unknown action", rule(func(r *events.PolicyRule) { r.Action = []string{"destroy"} }), "rules[0].action", "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.CheckRules(tc.rules)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("CheckRules = %v", err)
				}
				return
			}
			var re *auth.RuleError
			if !errors.As(err, &re) || re.Field != tc.field || !strings.Contains(re.Message, tc.msg) {
				t.Fatalf("CheckRules = %v, want %s: ...%s...", err, tc.field, tc.msg)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"web-*", "web-01", true}, {"web-*", "db-01", false}, {"*-01", "web-01", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"exact", "exact", true}, {"exact", "exactly", false},
		{"[a]", "[a]", true}, {"?", "x", false},
	} {
		if got := auth.Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}
