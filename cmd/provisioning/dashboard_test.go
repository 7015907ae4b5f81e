package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"provisioning/app/apptest"
)

// serve prints one URL for the dashboard, and the page is there.
func TestServePrintsTheDashboardURL(t *testing.T) {
	t.Parallel()
	p := apptest.Serve(t, apptest.AdminEnv, "--data-dir", t.TempDir(), "--nats-listen", "",
		"--orchestrator-addr", "127.0.0.1:0", "--control-addr", "127.0.0.1:0")
	url := regexp.MustCompile(`(?m)^dashboard: (http://\S+/ui/)$`).FindStringSubmatch(p.Logs())
	if url == nil || !strings.HasPrefix(url[1], p.ControlURL) {
		t.Fatalf("serve did not print the dashboard's URL on the control center %s:\n%s", p.ControlURL, p.Logs())
	}
	res, err := http.Get(url[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<script type="module"`) || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET %s: %d %v", url[1], res.StatusCode, res.Header)
	}
	// The control center's root leads there.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noFollow.Get(p.ControlURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET /: %d %v", res.StatusCode, res.Header)
	}
}

func TestDashboardFlagsFromEveryPlace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.toml")
	if err := os.WriteFile(path, []byte("cors_origins = [\"https://a.example.com\", \"https://*.b.example.com\"]\npublic_orchestrator_url = \"https://orch.example.com\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := parseServe([]string{"--config", path}, func(string) string { return "" }, io.Discard)
	if err != nil || strings.Join(cfg.CORSOrigins, " ") != "https://a.example.com https://*.b.example.com" || cfg.PublicOrchestratorURL != "https://orch.example.com" {
		t.Fatalf("from the file: %v %q %q", err, cfg.CORSOrigins, cfg.PublicOrchestratorURL)
	}
	env := func(k string) string {
		if k == "PROVISIONING_CORS_ORIGINS" {
			return "https://c.example.com"
		}
		return ""
	}
	cfg, _, err = parseServe([]string{"--config", path}, env, io.Discard)
	if err != nil || strings.Join(cfg.CORSOrigins, " ") != "https://c.example.com" {
		t.Fatalf("from the environment: %v %q", err, cfg.CORSOrigins)
	}
	cfg, _, err = parseServe([]string{"--config", path, "--cors-origins", "http://d.example.com:8080"}, env, io.Discard)
	if err != nil || strings.Join(cfg.CORSOrigins, " ") != "http://d.example.com:8080" {
		t.Fatalf("from the command line: %v %q", err, cfg.CORSOrigins)
	}
	for _, args := range [][]string{{"--cors-origins", "d.example.com"}, {"--cors-origins", "https://d.example.com/x"}, {"--public-orchestrator-url", "orch.example.com"}} {
		if _, _, err := parseServe(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
