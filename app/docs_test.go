package app_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"provisioning/app/apptest"
)

// docs/deployment.md lists the JetStream resources an instance creates
// and the metrics to watch: the lists are the truth of a running
// instance, no more, no less (for the resources).
func TestDeploymentDocMatchesAnInstance(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	in, _, _ := apptest.StartAdmin(t, apptest.Config(t))

	// Resources: streams, KV buckets (KV_<name>), object stores (OBJ_<name>).
	have := map[string]bool{}
	names := in.Store().JetStream().StreamNames(context.Background())
	for n := range names.Name() {
		have[strings.TrimPrefix(strings.TrimPrefix(n, "KV_"), "OBJ_")] = true
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`(PROV_[A-Z_]+)`").FindAllStringSubmatch(doc, -1) {
		listed[m[1]] = true
	}
	for n := range have {
		if !listed[n] {
			t.Errorf("docs/deployment.md does not list the JetStream resource %s", n)
		}
	}
	for n := range listed {
		if !have[n] {
			t.Errorf("docs/deployment.md lists %s, which an instance does not create", n)
		}
	}

	// Metrics named in "What to monitor" are served (on either port).
	families := map[string]bool{}
	for _, base := range []string{in.OrchestratorURL(), in.ControlURL()} {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, m := range regexp.MustCompile(`(?m)^# TYPE ([a-z_:][a-z0-9_:]*) `).FindAllStringSubmatch(string(body), -1) {
			families[m[1]] = true
		}
	}
	section := doc[strings.Index(doc, "## What to monitor"):]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var missing []string
	for _, m := range regexp.MustCompile("`([a-z]+_[a-z0-9_]+)(?:\\{[^}`]*\\})?`").FindAllStringSubmatch(section, -1) {
		if !families[m[1]] {
			missing = append(missing, m[1])
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/deployment.md names metrics an instance does not serve: %v", missing)
	}
}
