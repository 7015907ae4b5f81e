package controlcenter

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"provisioning/auth"
	"provisioning/handlers"
	"provisioning/projections"
)

// API is the control center on :9080: sessions, users, policies and the
// audit log. Fill the fields, then call Handler.
type API struct {
	// Identity holds the rules of users, sessions and policies.
	Identity *auth.Service
	Users    *projections.Users
	Policies *projections.Policies
	Keys     *projections.SigningKeys
	AuditLog *projections.AuditLog
	// IAMView and AuditView are the runners of PROV_IAM and PROV_AUDIT.
	IAMView   handlers.Consistency
	AuditView handlers.Consistency

	Access *handlers.Access
	// CORS says which pages of other origins may call the API; nil: none.
	CORS *handlers.CORS
	// Dashboard serves the web page under /ui/ (dashboard.Handler); nil:
	// no page. The page is not part of the API: it is left out of the
	// OpenAPI description.
	Dashboard http.Handler
	// Idempotency replays the answers of creating POSTs (users,
	// policies) with an Idempotency-Key; never of logins.
	Idempotency *handlers.Idempotency

	// ReadWait bounds how long a read waits for a view to catch up.
	ReadWait time.Duration
	Log      *slog.Logger
	Registry *prometheus.Registry
}

// Handler returns the API's router: every route of the control center,
// and how it is protected, is in this one function.
func (c *API) Handler() *handlers.Mux {
	m := handlers.NewMux()
	m.Use(handlers.OuterMiddleware(c.Log, c.Registry, "control")...)
	m.Use(c.CORS.Middleware)
	m.Use(c.Access.Guard(m))
	r := m.Router()
	r.Handle(http.MethodGet, "/metrics", handlers.Open(""), promhttp.HandlerFor(c.Registry, promhttp.HandlerOpts{}))
	r.Get("/openapi.json", handlers.Open(""), handlers.ServeOpenAPI(handlers.ControlCenterAPI))
	r.Get("/.well-known/jwks.json", handlers.Open(""), c.jwks)
	if c.Dashboard != nil {
		// The page's files: it signs in through the API like any client.
		r.Handle(http.MethodGet, "/", handlers.Open(""), http.RedirectHandler("/ui/", http.StatusFound))
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			r.Handle(m, "/ui", handlers.Open(""), c.Dashboard)
			r.Handle(m, "/ui/*", handlers.Open(""), c.Dashboard)
		}
	}
	r.Group(func(r handlers.Router) {
		r.Use(handlers.Versioned, handlers.LimitBody)
		r.Get("/health", handlers.Open(""), c.health)
		// The handler audits success and failure itself.
		r.Post("/auth/login", handlers.Open("auth.login").WithLimit("auth"), c.login)
		r.Post("/auth/refresh", handlers.Rule("auth", "refresh", "auth.refresh").WithLimit("auth"), c.refresh)
		r.Post("/auth/logout", handlers.Rule("auth", "logout", "auth.logout"), c.logout)
		r.With(c.Idempotency.Middleware).Post("/users", handlers.Rule("users", "create", "user.create"), c.createUser)
		r.Put("/users/{id}", handlers.Rule("users", "update", "user.update"), c.updateUser)
		r.Delete("/users/{id}", handlers.Rule("users", "delete", "user.delete"), c.deleteUser)
		r.Post("/users/{id}/mfa", handlers.Rule("users", "mfa", "user.mfa_enroll"), c.enrolMFA)
		r.Post("/users/{id}/mfa/verify", handlers.Rule("users", "mfa", "user.mfa_verify"), c.verifyMFA)
		r.Put("/users/{id}/password", handlers.Rule("users", "password", "user.password"), c.changePassword)
		r.With(c.Idempotency.Middleware).Post("/policies", handlers.Rule("policies", "create", "policy.create"), c.createPolicy)
		r.Put("/policies/{id}", handlers.Rule("policies", "update", "policy.update"), c.updatePolicy)
		r.Delete("/policies/{id}", handlers.Rule("policies", "delete", "policy.delete"), c.deletePolicy)
		r.With(c.freshIAM).Get("/users", handlers.Rule("users", "read", "user.read"), c.listUsers)
		r.With(c.freshIAM).Get("/users/{id}", handlers.Rule("users", "read", "user.read"), c.getUser)
		r.With(c.freshIAM).Get("/policies", handlers.Rule("policies", "read", "policy.read"), c.listPolicies)
		r.With(c.freshIAM).Get("/policies/{id}", handlers.Rule("policies", "read", "policy.read"), c.getPolicy)
		r.With(c.freshAudit).Get("/audit/logs", handlers.Rule("audit", "read", "audit.read"), c.auditLogs)
	})
	return m
}

func (c *API) health(w http.ResponseWriter, r *http.Request) error {
	return handlers.WriteJSON(w, http.StatusOK, "Control Center is healthy")
}

// jwks serves the public keys as a standard JWK Set (not in the envelope:
// JWT libraries read this document as it is).
func (c *API) jwks(w http.ResponseWriter, r *http.Request) error {
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
func (c *API) freshIAM(next http.Handler) http.Handler {
	return handlers.Fresh(c.IAMView, handlers.ReadWait(c.ReadWait), next)
}

func (c *API) freshAudit(next http.Handler) http.Handler {
	return handlers.Fresh(c.AuditView, handlers.ReadWait(c.ReadWait), next)
}
