package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"provisioning/app/apptest"
)

// series returns the series (name and labels) a /metrics serves.
func series(t *testing.T, url string) map[string]bool {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// Scraping both ports gives every series once: the control center's
// /metrics holds its own HTTP series, the orchestrator's everything else.
func TestMetricsAreServedOncePerSeries(t *testing.T) {
	t.Parallel()
	in, orch, cc := apptest.StartAdmin(t, apptest.Config(t))
	orch.Do(t, "GET", "/tasks", nil)
	cc.Do(t, "GET", "/users", nil)
	o, c := series(t, in.OrchestratorURL()), series(t, in.ControlURL())
	for s := range c {
		if o[s] {
			t.Errorf("both ports serve %s", s)
		}
	}
	var control, process bool
	for s := range c {
		control = control || strings.HasPrefix(s, "http_requests_total{") && strings.Contains(s, `api="control"`)
	}
	for s := range o {
		process = process || strings.HasPrefix(s, "process_resident_memory_bytes")
	}
	if !control || !process {
		t.Fatalf("the control center serves its HTTP series: %v; the orchestrator the process's: %v", control, process)
	}
}
