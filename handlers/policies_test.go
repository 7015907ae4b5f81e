package handlers_test

import (
	"strings"
	"testing"
)

// createPolicy posts a policy and returns its id.
func createPolicy(t *testing.T, in instance, body any) string {
	t.Helper()
	res := in.cc.Do(t, "POST", "/policies", body)
	wantStatus(t, res, 201, `"id"`)
	var out struct{ ID, Name, Version string }
	res.Decode(t, &out)
	return out.ID
}

func TestDenyPolicyOverridesOperator(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	in.createUser(t, "opal", "operator")
	orch, _ := in.as(in.login(t, "opal"))
	submit := func() int {
		return orch.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": "production"}).Status
	}
	if s := submit(); s != 200 {
		t.Fatalf("an operator submits: %d", s)
	}
	id := createPolicy(t, in, map[string]any{"name": "freeze", "version": "1.0.0", "rules": []map[string]any{
		{"effect": "Deny", "resource": "servers:*", "action": []string{"create"}, "condition": "'operator' in user.roles"},
	}})
	res := orch.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": "production"})
	wantStatus(t, res, 403, "permission denied")
	wantStatus(t, orch.Do(t, "GET", "/tasks", nil), 200, "")
	denied := in.cc.Do(t, "GET", "/audit/logs?action=server.create&result=denied", nil)
	wantStatus(t, denied, 200, `"result":"denied"`)
	if !strings.Contains(string(denied.Data), "denied by policy "+id) {
		t.Fatalf("the denial's audit record does not name the policy: %s", denied.Data)
	}

	wantStatus(t, in.cc.Do(t, "PUT", "/policies/"+id, map[string]any{"enabled": false}), 200, `"Policy updated successfully"`)
	if s := submit(); s != 200 {
		t.Fatalf("after disabling the deny: %d", s)
	}
	wantStatus(t, in.cc.Do(t, "PUT", "/policies/"+id, map[string]any{"name": "freeze-v2", "enabled": true}), 200, "")
	if s := submit(); s != 403 {
		t.Fatalf("after enabling the deny again: %d", s)
	}
	wantStatus(t, in.cc.Do(t, "DELETE", "/policies/"+id, nil), 200, `"Policy deleted successfully"`)
	if s := submit(); s != 200 {
		t.Fatalf("after deleting the deny: %d", s)
	}
	wantStatus(t, in.cc.Do(t, "GET", "/policies/"+id, nil), 404, "")
}

func TestConditionsOnRoleAndIP(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	in.createUser(t, "aud", "auditor")
	in.createUser(t, "val", "viewer")
	_, audCC := in.as(in.login(t, "aud"))
	valOrch, _ := in.as(in.login(t, "val"))

	wantStatus(t, audCC.Do(t, "GET", "/audit/logs", nil), 403, "")
	createPolicy(t, in, map[string]any{"name": "auditors read the log", "rules": []map[string]any{
		{"effect": "Allow", "resource": "audit:*", "action": []string{"read"}, "condition": "user.role == 'auditor'"},
	}})
	wantStatus(t, audCC.Do(t, "GET", "/audit/logs", nil), 200, "")

	wantStatus(t, valOrch.Do(t, "GET", "/tasks", nil), 200, "")
	local := createPolicy(t, in, map[string]any{"name": "no reads from loopback", "rules": []map[string]any{
		{"effect": "Deny", "resource": "tasks:*", "action": []string{"read"}, "condition": "request.ip.inCIDR('127.0.0.0/8') && user.role == 'viewer'"},
	}})
	wantStatus(t, valOrch.Do(t, "GET", "/tasks", nil), 403, "")
	wantStatus(t, in.orch.Do(t, "GET", "/tasks", nil), 200, "")
	wantStatus(t, in.cc.Do(t, "PUT", "/policies/"+local, map[string]any{"rules": []map[string]any{
		{"effect": "Deny", "resource": "tasks:*", "action": []string{"read"}, "condition": "request.ip.inCIDR('192.0.2.0/24')"},
	}}), 200, "")
	wantStatus(t, valOrch.Do(t, "GET", "/tasks", nil), 200, "")
	list := in.cc.Do(t, "GET", "/policies", nil)
	wantStatus(t, list, 200, `192.0.2.0/24`)
	if list.Header.Get("X-Total-Count") != "2" || !strings.Contains(string(list.Data), `"created_at"`) || !strings.Contains(string(list.Data), `"enabled":true`) {
		t.Fatalf("policies %s", list.Raw)
	}
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	rule := func(mod func(map[string]any)) map[string]any {
		r := map[string]any{"effect": "Allow", "resource": "servers:*", "action": []string{"create", "read"}, "condition": "user.role == 'admin'"}
		mod(r)
		return map[string]any{"name": "p", "version": "1.0.0", "rules": []any{r}}
	}
	cases := []struct {
		name    string
		body    any
		status  int
		mention string
	}{
		{"bad CEL syntax", rule(func(r map[string]any) { r["condition"] = "user.role = 'admin'" }), 422, "rules[0].condition"},
		{"CEL unknown field", rule(func(r map[string]any) { r["condition"] = "user.rol == 'admin'" }), 422, "undefined field 'rol'"},
		{"CEL not boolean", rule(func(r map[string]any) { r["condition"] = "user.roles" }), 422, "boolean"},
		{"bad effect", rule(func(r map[string]any) { r["effect"] = "Permit" }), 422, "rules[0].effect"},
		{"bad resource", rule(func(r map[string]any) { r["resource"] = "everything" }), 422, "rules[0].resource"},
		{"unknown action", rule(func(r map[string]any) { r["action"] = []string{"nuke"} }), 422, "rules[0].action"},
		{"action not a list", rule(func(r map[string]any) { r["action"] = "read" }), 422, "action"},
		{"unknown rule field", rule(func(r map[string]any) { r["priority"] = 1 }), 422, "priority"},
		{"no rules", map[string]any{"name": "p", "rules": []any{}}, 422, "rules"},
		{"no name", map[string]any{"rules": []any{map[string]any{"effect": "Allow", "resource": "servers:*", "action": []string{"read"}}}}, 422, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("n", 129), "rules": []any{}}, 422, "name"},
		{"locks its author out", map[string]any{"name": "oops", "rules": []any{map[string]any{"effect": "Deny", "resource": "policies:*", "action": []string{"*"}}}}, 422, "would stop you"},
		{"locks admins out of users", map[string]any{"name": "oops", "rules": []any{map[string]any{"effect": "Deny", "resource": "users:*", "action": []string{"*"}}}}, 422, "no enabled admin"},
		{"locks admins out of creating users", map[string]any{"name": "oops", "rules": []any{map[string]any{"effect": "Deny", "resource": "users:*", "action": []string{"create"}}}}, 422, "create users"},
		{"locks admins out of deleting policies", map[string]any{"name": "oops", "rules": []any{map[string]any{"effect": "Deny", "resource": "policies:*", "action": []string{"delete"}}}}, 422, "delete policies"},
		{"locks the admin out by name", map[string]any{"name": "oops", "rules": []any{map[string]any{"effect": "Deny", "resource": "users:*", "action": []string{"read"},
			"condition": "user.username == 'admin'"}}}, 422, "no enabled admin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, in.cc.Do(t, "POST", "/policies", tc.body), tc.status, tc.mention)
		})
	}
	if n := in.cc.Do(t, "GET", "/policies", nil).Header.Get("X-Total-Count"); n != "0" {
		t.Fatalf("%s policies saved from refused requests", n)
	}
	id := createPolicy(t, in, rule(func(map[string]any) {}))
	wantStatus(t, in.cc.Do(t, "PUT", "/policies/"+id, map[string]any{"rules": []any{map[string]any{"effect": "Allow", "resource": "servers:*", "action": []string{"read"}, "condition": "1 +"}}}),
		422, "rules[0].condition")
	wantStatus(t, in.cc.Do(t, "PUT", "/policies/"+id, map[string]any{}), 422, "at least one")
	wantStatus(t, in.cc.Do(t, "PUT", "/policies/nope", map[string]any{"enabled": false}), 404, "")
	got := in.cc.Do(t, "GET", "/policies/"+id, nil)
	wantStatus(t, got, 200, `"condition":"user.role == 'admin'"`)
}
