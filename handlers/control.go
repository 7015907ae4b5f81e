package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
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

// Handler returns the API's router: every route of the control center is
// in this one function.
func (c *ControlCenter) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(outerMiddleware(c.Log, c.Registry, "control")...)
	r.Use(c.Access.guard(r))
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed(r))
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(c.Registry, promhttp.HandlerOpts{}))
	r.Get("/openapi.json", serveOpenAPI(ControlCenterAPI))
	r.Get("/.well-known/jwks.json", c.jwks)
	r.Group(func(r chi.Router) {
		r.Use(versioned, limitBody)
		r.Get("/health", c.health)
		r.Post("/auth/login", c.login)
		r.Post("/auth/refresh", c.refresh)
		r.Post("/auth/logout", c.logout)
		r.Get("/users", c.listUsers)
		r.With(c.Idempotency.Middleware).Post("/users", c.createUser)
		r.Get("/users/{id}", c.getUser)
		r.Put("/users/{id}", c.updateUser)
		r.Delete("/users/{id}", c.deleteUser)
		r.Post("/users/{id}/mfa", c.enrolMFA)
		r.Post("/users/{id}/mfa/verify", c.verifyMFA)
		r.Get("/policies", c.listPolicies)
		r.With(c.Idempotency.Middleware).Post("/policies", c.createPolicy)
		r.Get("/policies/{id}", c.getPolicy)
		r.Put("/policies/{id}", c.updatePolicy)
		r.Delete("/policies/{id}", c.deletePolicy)
		r.Get("/audit/logs", c.auditLogs)
	})
	return r
}

func (c *ControlCenter) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, "Control Center is healthy")
}

// jwks serves the public keys as a standard JWK Set (not in the envelope:
// JWT libraries read this document as it is).
func (c *ControlCenter) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(auth.PublicKeys(c.Keys))
}

// freshIAM waits until the identity views hold everything stored before
// the request.
func (c *ControlCenter) freshIAM(r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), c.readWait())
	defer cancel()
	return c.IAMView.WaitForLatest(ctx)
}

func (c *ControlCenter) readWait() time.Duration {
	if c.ReadWait > 0 {
		return c.ReadWait
	}
	return 5 * time.Second
}
