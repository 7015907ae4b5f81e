package handlers_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"provisioning/app"
	"provisioning/handlers"
)

func request(t *testing.T, method, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// The dashboard (a page of the control center) calls the orchestrator
// from its own origin; other origins are not let in, unless listed.
func TestCrossOriginCallsOnlyFromTheDashboardAndTheList(t *testing.T) {
	t.Parallel()
	in, _, token := wsInstance(t, func(c *app.Config) { c.CORSOrigins = []string{"https://*.ops.example"} })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(in.ControlURL(), "http://"))
	dashboard := "http://127.0.0.1:" + port
	preflight := func(origin string) *http.Response {
		return request(t, http.MethodOptions, in.OrchestratorURL()+"/tasks/x/cancel", http.Header{"Origin": {origin},
			"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization, idempotency-key"}})
	}
	for _, origin := range []string{dashboard, "https://eu.ops.example"} {
		res := preflight(origin)
		h := res.Header
		if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight from %s: %d %v", origin, res.StatusCode, h)
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight from %s allows credentials", origin)
		}
	}
	for _, origin := range []string{"https://evil.example", "http://127.0.0.1:1", "http://ops.example", "https://ops.example.evil"} {
		res := preflight(origin)
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %v, want 403 without CORS headers", origin, res.StatusCode, res.Header)
		}
	}
	// An answer to the dashboard is readable by it, paging headers too.
	auth := "Bearer " + token
	res := request(t, http.MethodGet, in.OrchestratorURL()+"/tasks", http.Header{"Origin": {dashboard}, "Authorization": {auth}})
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != dashboard ||
		!strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "X-Total-Count") || !strings.Contains(res.Header.Get("Vary"), "Origin") {
		t.Errorf("GET from the dashboard: %d %v", res.StatusCode, res.Header)
	}
	// So is a refusal (the page shows the error).
	res = request(t, http.MethodGet, in.OrchestratorURL()+"/tasks", http.Header{"Origin": {dashboard}})
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Access-Control-Allow-Origin") != dashboard {
		t.Errorf("401 to the dashboard: %d %v", res.StatusCode, res.Header)
	}
	res = request(t, http.MethodGet, in.OrchestratorURL()+"/tasks", http.Header{"Origin": {"https://evil.example"}, "Authorization": {auth}})
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an answer to another origin is readable by it: %v", res.Header)
	}
}

func TestParseOrigins(t *testing.T) {
	t.Parallel()
	got, err := handlers.ParseOrigins([]string{" https://Ops.Example.com ", "", "http://*.example.com:8443", "*"})
	if err != nil || strings.Join(got, " ") != "https://ops.example.com http://*.example.com:8443 *" {
		t.Fatalf("ParseOrigins = %v, %v", got, err)
	}
	for _, bad := range []string{"ops.example.com", "ftp://ops.example.com", "https://ops.example.com/path", "https://user@ops.example.com", "https://ops.example.com?x=1", "https://"} {
		if _, err := handlers.ParseOrigins([]string{bad}); err == nil {
			t.Errorf("ParseOrigins(%q) accepted", bad)
		}
	}
}
