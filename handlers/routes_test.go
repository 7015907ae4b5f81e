package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/handlers"
)

// The open routes of CONTRACT.md, plus the OpenAPI document.
var openRoutes = []string{
	"GET /health", "GET /state/system/health", "GET /metrics", "POST /auth/login",
	"GET /.well-known/jwks.json", "GET /openapi.json",
}

// Every route either API serves was mounted with a protection that names
// a kind and an action policies know (reads read, writes do something
// else, and both are audited under a name), and every route that is not
// open answers 401 without a token. A route mounted past the protection
// fails here (and answers 403 to everyone).
func TestEveryRouteIsProtected(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	apis := []struct {
		name string
		mux  *handlers.Mux
		base string
	}{
		{"orchestrator", servedRoutes(handlers.OrchestratorAPI), in.OrchestratorURL()},
		{"control center", servedRoutes(handlers.ControlCenterAPI), in.ControlURL()},
	}
	seen := 0
	for _, api := range apis {
		err := chi.Walk(api.mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			seen++
			key := method + " " + route
			rule, ok := api.mux.Protection(key)
			if !ok {
				t.Errorf("%s: %s is mounted without a protection", api.name, key)
				return nil
			}
			if rule.Open != slices.Contains(openRoutes, key) {
				t.Errorf("%s: %s open=%v, the API's conventions say otherwise", api.name, key, rule.Open)
			}
			checkRule(t, key, method, rule)
			path := strings.NewReplacer("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV").Replace(route)
			res := apptestClient(api.base).Do(t, method, path, nil)
			switch {
			case rule.Open && res.Status == http.StatusUnauthorized:
				t.Errorf("%s: open route %s answered 401", api.name, key)
			case !rule.Open && (res.Status != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" || res.Success):
				t.Errorf("%s: %s without a token answered %d %s, want 401 with a challenge", api.name, key, res.Status, res.Raw)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen < 20 {
		t.Fatalf("walked %d routes: the walk is broken", seen)
	}
}

// checkRule: a protected route names a kind and an action policies know
// and an audit action; a mutating route is not mapped to read, nor a
// read to anything else.
func checkRule(t *testing.T, key, method string, r handlers.Route) {
	t.Helper()
	if r.Open {
		return
	}
	if !slices.Contains(auth.Kinds, r.Kind) || !slices.Contains(auth.Actions, r.Action) {
		t.Errorf("%s: kind %q or action %q is unknown to policies", key, r.Kind, r.Action)
	}
	if r.Audit == "" || !strings.Contains(r.Audit, ".") {
		t.Errorf("%s: audit action %q", key, r.Audit)
	}
	if handlers.Mutates(method) && r.Action == "read" {
		t.Errorf("%s mutates but is mapped to read", key)
	}
	if !handlers.Mutates(method) && r.Action != "read" {
		t.Errorf("%s reads but is mapped to %s", key, r.Action)
	}
}

// A route mounted past its protection is refused to everyone, token or
// not: nothing is reachable by accident.
func TestUnprotectedRouteIsRefused(t *testing.T) {
	t.Parallel()
	m := handlers.NewMux()
	m.Use((&handlers.Access{}).Guard(m))
	m.Get("/sneaky", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	w := httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/sneaky", nil))
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "no access rule") {
		t.Fatalf("got %d %s, want 403", w.Code, w.Body)
	}
}

func TestOpenRoutesNeedNoToken(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	anonOrch, anonCC := apptestClient(in.OrchestratorURL()), in.anon()
	wantStatus(t, anonOrch.Do(t, "GET", "/health", nil), 200, "Orchestrator is healthy")
	wantStatus(t, anonCC.Do(t, "GET", "/health", nil), 200, "Control Center is healthy")
	metrics := anonOrch.Do(t, "GET", "/metrics", nil)
	if metrics.Status != 200 || !strings.Contains(string(metrics.Raw), "http_requests_total") {
		t.Fatalf("metrics: %d", metrics.Status)
	}
	jwks := anonCC.Do(t, "GET", "/.well-known/jwks.json", nil)
	if jwks.Status != 200 || !strings.Contains(string(jwks.Raw), `"kty":"OKP"`) || !strings.Contains(string(jwks.Raw), `"crv":"Ed25519"`) {
		t.Fatalf("jwks: %d %s", jwks.Status, jwks.Raw)
	}
	// Unknown routes and methods still answer 404 and 405 in the envelope.
	wantStatus(t, anonOrch.Do(t, "GET", "/no/such/route", nil), 404, "no route")
	wantStatus(t, anonCC.Do(t, "PATCH", "/users", nil), 405, "not allowed")
}
