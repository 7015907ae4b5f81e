package handlers

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"provisioning/auth"
	"provisioning/projections"
)

// ControlCenter is the API on :9080: sessions, users, policies and the
// audit log. Fill the fields, then call Handler.
type ControlCenter struct {
	// Identity holds the rules of users, sessions and policies.
	Identity *auth.Service
	Users    *projections.Users
	Policies *projections.Policies
	Keys     *projections.SigningKeys
	AuditLog *projections.AuditLog
	// IAMView and AuditView are the runners of PROV_IAM and PROV_AUDIT.
	IAMView   Consistency
	AuditView Consistency

	Access *Access
	// Idempotency replays the answers of creating POSTs (users,
	// policies) with an Idempotency-Key; never of logins.
	Idempotency *Idempotency

	// ReadWait bounds how long a read waits for a view to catch up.
	ReadWait time.Duration
	Log      *slog.Logger
	Registry *prometheus.Registry
}

// Handler returns the API's router: every route of the control center,
// and how it is protected, is in this one function.
func (c *ControlCenter) Handler() *Mux {
	m := NewMux()
	m.Use(outerMiddleware(c.Log, c.Registry, "control")...)
	m.Use(c.Access.Guard(m))
	r := m.Router()
	r.Handle(http.MethodGet, "/metrics", Open(""), promhttp.HandlerFor(c.Registry, promhttp.HandlerOpts{}))
	r.Get("/openapi.json", Open(""), serveOpenAPI(ControlCenterAPI))
	r.Get("/.well-known/jwks.json", Open(""), c.jwks)
	r.Group(func(r Router) {
		r.Use(versioned, limitBody)
		r.Get("/health", Open(""), c.health)
		// The handler audits success and failure itself.
		r.Post("/auth/login", Open("auth.login").WithLimit("auth"), c.login)
		r.Post("/auth/refresh", Rule("auth", "refresh", "auth.refresh").WithLimit("auth"), c.refresh)
		r.Post("/auth/logout", Rule("auth", "logout", "auth.logout"), c.logout)
		r.With(c.Idempotency.Middleware).Post("/users", Rule("users", "create", "user.create"), c.createUser)
		r.Put("/users/{id}", Rule("users", "update", "user.update"), c.updateUser)
		r.Delete("/users/{id}", Rule("users", "delete", "user.delete"), c.deleteUser)
		r.Post("/users/{id}/mfa", Rule("users", "mfa", "user.mfa_enroll"), c.enrolMFA)
		r.Post("/users/{id}/mfa/verify", Rule("users", "mfa", "user.mfa_verify"), c.verifyMFA)
		r.With(c.Idempotency.Middleware).Post("/policies", Rule("policies", "create", "policy.create"), c.createPolicy)
		r.Put("/policies/{id}", Rule("policies", "update", "policy.update"), c.updatePolicy)
		r.Delete("/policies/{id}", Rule("policies", "delete", "policy.delete"), c.deletePolicy)
		r.With(c.freshIAM).Get("/users", Rule("users", "read", "user.read"), c.listUsers)
		r.With(c.freshIAM).Get("/users/{id}", Rule("users", "read", "user.read"), c.getUser)
		r.With(c.freshIAM).Get("/policies", Rule("policies", "read", "policy.read"), c.listPolicies)
		r.With(c.freshIAM).Get("/policies/{id}", Rule("policies", "read", "policy.read"), c.getPolicy)
		r.With(c.freshAudit).Get("/audit/logs", Rule("audit", "read", "audit.read"), c.auditLogs)
	})
	return m
}

func (c *ControlCenter) health(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, "Control Center is healthy")
}

// jwks serves the public keys as a standard JWK Set (not in the envelope:
// JWT libraries read this document as it is).
func (c *ControlCenter) jwks(w http.ResponseWriter, r *http.Request) error {
	body, err := json.Marshal(auth.PublicKeys(c.Keys))
	if err != nil {
		return fmt.Errorf("encode the key set: %w", err)
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// freshIAM and freshAudit are read-your-writes: a route behind one runs
// once its view holds everything stored before the request.
func (c *ControlCenter) freshIAM(next http.Handler) http.Handler {
	return fresh(c.IAMView, c.readWait(), next)
}

func (c *ControlCenter) freshAudit(next http.Handler) http.Handler {
	return fresh(c.AuditView, c.readWait(), next)
}

func (c *ControlCenter) readWait() time.Duration {
	if c.ReadWait > 0 {
		return c.ReadWait
	}
	return 5 * time.Second
}
