package config_test

import (
	"flag"
	"testing"

	"provisioning/config"
)

// The API reference's [webhooks] block, exactly as written there.
const referenceWebhooks = `
[webhooks]
enabled = true
endpoints = [
  {
    url = "https://your-system.com/webhook"
    events = ["task.completed", "task.failed", "batch.completed"]
    secret = "webhook-secret"
  }
]
`

type webhooks struct {
	Enabled   bool
	Endpoints []struct {
		URL    string
		Events []string
		Secret string
	}
}

func TestReferenceWebhookBlockParses(t *testing.T) {
	f, err := config.Parse("reference.toml", referenceWebhooks)
	if err != nil {
		t.Fatal(err)
	}
	var w webhooks
	if err := f.Section("webhooks", &w); err != nil {
		t.Fatal(err)
	}
	if !w.Enabled || len(w.Endpoints) != 1 {
		t.Fatalf("got %+v", w)
	}
	e := w.Endpoints[0]
	if e.URL != "https://your-system.com/webhook" || e.Secret != "webhook-secret" || len(e.Events) != 3 || e.Events[2] != "batch.completed" {
		t.Fatalf("endpoint = %+v", e)
	}
}

func TestNormalizeLeavesValidTOMLAlone(t *testing.T) {
	for _, in := range []string{
		"a = { x = 1, y = \"}{\" }\n",
		"s = \"\"\"\nmulti { line\n\"\"\"\n",
		"# comment { not a table\nk = 'lit{'\n",
		"arr = [\n  1,\n  2,\n]\n",
	} {
		if got := config.Normalize(in); got != in {
			t.Errorf("Normalize(%q) = %q", in, got)
		}
	}
}

func TestNormalizeTrailingCommaAndComments(t *testing.T) {
	in := "t = {\n  a = 1, # first\n  b = 2,\n}\n"
	f, err := config.Parse("x", in)
	if err != nil {
		t.Fatalf("%v (normalized: %q)", err, config.Normalize(in))
	}
	tbl := f.Raw["t"].(map[string]any)
	if tbl["a"] != int64(1) || tbl["b"] != int64(2) {
		t.Fatalf("t = %v", tbl)
	}
}

func TestPrecedenceFlagEnvFile(t *testing.T) {
	f, err := config.Parse("x", "workers = 3\ndata-dir = \"/file\"\nsync = \"1s\"\n")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	workers := fs.Int("workers", 1, "")
	dir := fs.String("data-dir", "./data", "")
	sync := fs.String("sync", "always", "")
	other := fs.String("other", "default", "")
	if err := fs.Parse([]string{"-workers", "9"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PROVISIONING_DATA_DIR": "/env"}
	if err := config.Apply(fs, f, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *workers != 9 || *dir != "/env" || *sync != "1s" || *other != "default" {
		t.Fatalf("workers=%d dir=%s sync=%s other=%s", *workers, *dir, *sync, *other)
	}
	env["PROVISIONING_WORKERS"] = "x"
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Int("workers", 1, "")
	if err := config.Apply(fs2, nil, func(k string) string { return env[k] }); err == nil {
		t.Fatal("a bad environment value must be an error")
	}
}
