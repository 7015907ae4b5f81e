package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestServeReadsWebhooksFromTheConfigFile(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		// The API reference's block, exactly as written there.
		"reference": `
[webhooks]
enabled = true
endpoints = [
  {
    url = "https://your-system.com/webhook"
    events = ["task.completed", "task.failed", "batch.completed"]
    secret = "webhook-secret"
  }
]
`,
		"array of tables": `
[webhooks]
retry_schedule = ["1s", "1m"]
max_attempts = 3

[[webhooks.endpoints]]
url = "https://your-system.com/webhook"
events = ["task.completed", "task.failed", "batch.completed"]
secret = "webhook-secret"
`,
	} {
		path := filepath.Join(t.TempDir(), "provisioning.toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := parseServe([]string{"--config", path, "--ws-allowed-origins", "https://dash.example.com, *.example.org"}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := cfg.Webhooks
		if !w.On() || len(w.Endpoints) != 1 || w.Endpoints[0].Secret != "webhook-secret" || len(w.Endpoints[0].Events) != 3 {
			t.Errorf("%s: webhooks = %+v", name, w)
		}
		if name == "array of tables" && (w.MaxAttempts != 3 || len(w.RetrySchedule) != 2 || w.RetrySchedule[1] != time.Minute) {
			t.Errorf("%s: schedule %v, max %d", name, w.RetrySchedule, w.MaxAttempts)
		}
		if o := cfg.WSAllowedOrigins; len(o) != 2 || o[1] != "*.example.org" {
			t.Errorf("origins = %q", o)
		}
	}
}

func TestServeRefusesBadWebhookSettings(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"no secret":        "[[webhooks.endpoints]]\nurl = \"https://x.example.com/\"\nevents = [\"*\"]\n",
		"typo":             "[webhooks]\nmax_attempt = 3\n",
		"typo in endpoint": "[[webhooks.endpoints]]\nurl = \"https://x.example.com/\"\nevents = [\"*\"]\nsecret = \"0123456789\"\nsecrt = \"x\"\n",
		"bad event":        "[[webhooks.endpoints]]\nurl = \"https://x.example.com/\"\nevents = [\"task.done\"]\nsecret = \"0123456789\"\n",
	} {
		path := filepath.Join(t.TempDir(), "p.toml")
		_ = os.WriteFile(path, []byte(text), 0o600)
		if _, _, err := parseServe([]string{"--config", path}, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
