package handlers

import "net/http"

// Route says how one route of either API is protected: open to anyone, or
// a policy question (may the caller do Action on a resource of Kind, with
// the route's {id} as the resource id?). Audit names the route in the
// audit log; mutating routes are audited on every call, reads only when
// refused.
type Route struct {
	Open   bool
	Kind   string
	Action string
	Audit  string
	// QueryToken accepts the token in ?token= as well as in the
	// Authorization header (the WebSocket, which browsers cannot give
	// headers).
	QueryToken bool
	// Limit names a rate limit of its own, on top of the general one:
	// "auth" (per client IP) or "batch" (per user).
	Limit string
}

// Mutates reports whether a request with this method changes something
// and is therefore audited.
func Mutates(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func open(audit string) Route               { return Route{Open: true, Audit: audit} }
func rule(kind, action, audit string) Route { return Route{Kind: kind, Action: action, Audit: audit} }

// routes maps "METHOD pattern" of both APIs to its protection. A route
// that is served but missing here answers 403 to everyone (and the router
// walk test fails), so nothing is reachable by accident. Routes listed but
// not served yet belong to features landing on other branches.
var routes = map[string]Route{
	// Open on both APIs (CONTRACT.md).
	"GET /health":                open(""),
	"GET /metrics":               open(""),
	"GET /openapi.json":          open(""),
	"GET /state/system/health":   open(""),
	"POST /auth/login":           {Open: true, Audit: "auth.login", Limit: "auth"}, // the handler audits success and failure itself
	"GET /.well-known/jwks.json": open(""),

	// Orchestrator: tasks and workflows.
	"GET /tasks":                      rule("tasks", "read", "task.read"),
	"GET /tasks/{id}":                 rule("tasks", "read", "task.read"),
	"POST /tasks/{id}/cancel":         rule("tasks", "cancel", "task.cancel"),
	"POST /workflows/servers/create":  rule("servers", "create", "server.create"),
	"POST /workflows/taskserv/create": rule("taskservs", "create", "taskserv.create"),
	"POST /workflows/cluster/create":  rule("clusters", "create", "cluster.create"),

	// Orchestrator: batches.
	"POST /batch/execute":                {Kind: "batches", Action: "create", Audit: "batch.execute", Limit: "batch"},
	"GET /batch/operations":              rule("batches", "read", "batch.read"),
	"GET /batch/operations/{id}":         rule("batches", "read", "batch.read"),
	"POST /batch/operations/{id}/cancel": rule("batches", "cancel", "batch.cancel"),

	// Orchestrator: state.
	"GET /state/workflows/{id}/progress":  rule("workflows", "read", "workflow.read"),
	"GET /state/workflows/{id}/snapshots": rule("workflows", "read", "workflow.read"),
	"GET /state/system/metrics":           rule("system", "read", "system.read"),
	"GET /state/statistics":               rule("system", "read", "system.read"),
	// History is audit data: reading it needs the audit permission.
	"GET /state/workflows/{id}/history": rule("audit", "read", "workflow.history"),

	// Orchestrator: rollback.
	"POST /rollback/checkpoints":     rule("checkpoints", "create", "checkpoint.create"),
	"GET /rollback/checkpoints":      rule("checkpoints", "read", "checkpoint.read"),
	"GET /rollback/checkpoints/{id}": rule("checkpoints", "read", "checkpoint.read"),
	"POST /rollback/execute":         rule("rollbacks", "execute", "rollback.execute"),
	"POST /rollback/restore/{id}":    rule("rollbacks", "restore", "rollback.restore"),
	"GET /rollback/statistics":       rule("rollbacks", "read", "rollback.read"),

	// Orchestrator: events out.
	"GET /ws":                              {Kind: "events", Action: "read", Audit: "events.subscribe", QueryToken: true},
	"GET /events":                          rule("audit", "read", "events.read"),
	"POST /webhooks":                       rule("webhooks", "create", "webhook.create"),
	"GET /webhooks":                        rule("webhooks", "read", "webhook.read"),
	"GET /webhooks/{id}":                   rule("webhooks", "read", "webhook.read"),
	"DELETE /webhooks/{id}":                rule("webhooks", "delete", "webhook.delete"),
	"GET /webhooks/{id}/deliveries":        rule("webhooks", "read", "webhook.read"),
	"POST /webhooks/deliveries/{id}/retry": rule("webhooks", "retry", "webhook.retry"),

	// Control center: sessions.
	"POST /auth/refresh": {Kind: "auth", Action: "refresh", Audit: "auth.refresh", Limit: "auth"},
	"POST /auth/logout":  rule("auth", "logout", "auth.logout"),

	// Control center: users.
	"GET /users":                  rule("users", "read", "user.read"),
	"POST /users":                 rule("users", "create", "user.create"),
	"GET /users/{id}":             rule("users", "read", "user.read"),
	"PUT /users/{id}":             rule("users", "update", "user.update"),
	"DELETE /users/{id}":          rule("users", "delete", "user.delete"),
	"POST /users/{id}/mfa":        rule("users", "mfa", "user.mfa_enroll"),
	"POST /users/{id}/mfa/verify": rule("users", "mfa", "user.mfa_verify"),

	// Control center: policies and audit.
	"GET /policies":         rule("policies", "read", "policy.read"),
	"POST /policies":        rule("policies", "create", "policy.create"),
	"GET /policies/{id}":    rule("policies", "read", "policy.read"),
	"PUT /policies/{id}":    rule("policies", "update", "policy.update"),
	"DELETE /policies/{id}": rule("policies", "delete", "policy.delete"),
	"GET /audit/logs":       rule("audit", "read", "audit.read"),
}

// RouteTable returns a copy of the protection of every route, keyed by
// "METHOD pattern".
func RouteTable() map[string]Route {
	out := make(map[string]Route, len(routes))
	for k, v := range routes {
		out[k] = v
	}
	return out
}
