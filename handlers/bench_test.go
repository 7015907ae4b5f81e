package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/projections"
	"provisioning/secrets"
)

// benchKeys is an in-memory key source.
type benchKeys []events.SigningKeyCreatedData

func (k benchKeys) Get(kid string) (events.SigningKeyCreatedData, bool) {
	for _, key := range k {
		if key.KeyID == kid {
			return key, true
		}
	}
	return events.SigningKeyCreatedData{}, false
}

func (k benchKeys) All() []events.SigningKeyCreatedData { return k }

// benchAccess is an Access over in-memory views: a user "op" (operator)
// and the given policies.
func benchAccess(b *testing.B, policies ...events.PolicyCreatedData) (*Access, string) {
	ring, err := secrets.NewKeyring()
	if err != nil {
		b.Fatal(err)
	}
	key, err := auth.NewSigningKey(time.Now(), ring)
	if err != nil {
		b.Fatal(err)
	}
	users := projections.NewUsers()
	created, _ := events.New(events.UserCreated, "u1", events.UserCreatedData{UserID: "u1", Username: "op", Roles: []string{"operator"}, Enabled: true})
	created.Seq, created.Time = 1, time.Now()
	if err := users.Apply(created); err != nil {
		b.Fatal(err)
	}
	view := projections.NewPolicies()
	for i, p := range policies {
		e, _ := events.New(events.PolicyCreated, p.PolicyID, p)
		e.Seq, e.Time = uint64(i+2), time.Now()
		if err := view.Apply(e); err != nil {
			b.Fatal(err)
		}
	}
	ev, err := auth.NewEvaluator(view, nil)
	if err != nil {
		b.Fatal(err)
	}
	tokens := &auth.Tokens{Keys: benchKeys{key}, Secrets: ring, Issuer: "provisioning", TTL: time.Hour}
	token, _, err := tokens.Issue(context.Background(), "u1", "op", []string{"operator"}, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	return &Access{Auth: &auth.Authenticator{Tokens: tokens, Revocations: auth.NewLocalRevocations(), Users: users}, Policies: ev}, token
}

func benchRouter(a *Access) http.Handler {
	m := NewMux()
	if a != nil {
		m.Use(a.Guard(m))
	}
	m.Router().Get("/tasks", Rule("tasks", "read", "task.read"), func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	return m
}

func runBench(b *testing.B, h http.Handler, token string) {
	req := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkUnprotectedHandler is the baseline: a GET through chi without
// the access middleware.
func BenchmarkUnprotectedHandler(b *testing.B) {
	runBench(b, benchRouter(nil), "")
}

// BenchmarkAccessMiddleware is the same GET through the access middleware:
// route lookup, EdDSA verification, revocation and user checks, and the
// policy decision (built-in role; with a CEL policy that must be
// evaluated).
func BenchmarkAccessMiddleware(b *testing.B) {
	b.Run("role", func(b *testing.B) {
		a, token := benchAccess(b)
		runBench(b, benchRouter(a), token)
	})
	b.Run("role+cel-deny-policy", func(b *testing.B) {
		a, token := benchAccess(b, events.PolicyCreatedData{PolicyID: "p1", Name: "office", Version: "1", Enabled: true,
			Rules: []events.PolicyRule{{Effect: "Deny", Resource: "tasks:*", Action: []string{"read"}, Condition: "!request.ip.inCIDR('192.0.2.0/24') && user.role == 'contractor'"}}})
		runBench(b, benchRouter(a), token)
	})
}

// BenchmarkPolicyDecision is the policy decision alone.
func BenchmarkPolicyDecision(b *testing.B) {
	a, _ := benchAccess(b, events.PolicyCreatedData{PolicyID: "p1", Name: "office", Version: "1", Enabled: true,
		Rules: []events.PolicyRule{{Effect: "Deny", Resource: "tasks:*", Action: []string{"read"}, Condition: "!request.ip.inCIDR('192.0.2.0/24') && user.role == 'contractor'"}}})
	in := auth.Input{User: auth.User{ID: "u1", Username: "op", Roles: []string{"operator"}, Role: "operator"},
		Request: auth.Request{Method: "GET", Path: "/tasks", IP: "192.0.2.7", Action: "read"}, Resource: auth.Resource{Kind: "tasks"}}
	b.ReportAllocs()
	for b.Loop() {
		if !a.Policies.Decide(in).Allowed {
			b.Fatal("denied")
		}
	}
}
