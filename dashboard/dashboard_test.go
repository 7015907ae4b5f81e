package dashboard_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"provisioning/dashboard"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Host = "ops.example:9080"
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func newHandler(t *testing.T, cfg dashboard.Config) *dashboard.Handler {
	t.Helper()
	h, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Every answer carries the strict headers; the policy names this origin
// and the orchestrator's only.
func TestEveryAnswerIsLockedDown(t *testing.T) {
	t.Parallel()
	h := newHandler(t, dashboard.Config{OrchestratorPort: "9090"})
	for _, path := range []string{"/ui/", "/ui/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/ui/config.json", h.AssetPath() + "js/main.js", "/ui/assets/old/js/main.js"} {
		res := get(t, h, path)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'",
			"connect-src 'self' http://ops.example:9090 ws://ops.example:9090 ws://ops.example:9080", "require-trusted-types-for 'script'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
			t.Errorf("%s: policy allows too much: %q", path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if res.Header.Get(k) != v {
				t.Errorf("%s: %s = %q", path, k, res.Header.Get(k))
			}
		}
	}
}

// A forged Host never reaches the policy or the page's configuration.
func TestAForgedHostIsNotCopied(t *testing.T) {
	t.Parallel()
	h := newHandler(t, dashboard.Config{OrchestratorPort: "9090"})
	res := get(t, h, "/ui/config.json", "Host", "evil; script-src *")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self';") || strings.Contains(csp, "evil") {
		t.Errorf("policy %q", csp)
	}
	var c struct {
		OrchestratorURL string `json:"orchestrator_url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil || c.OrchestratorURL != "" {
		t.Errorf("orchestrator_url %q, %v", c.OrchestratorURL, err)
	}
}

func TestConfigNamesTheOrchestratorAndTheRoles(t *testing.T) {
	t.Parallel()
	var c struct {
		OrchestratorURL string              `json:"orchestrator_url"`
		Roles           map[string][]string `json:"roles"`
		Actions         []string            `json:"actions"`
	}
	res := get(t, newHandler(t, dashboard.Config{OrchestratorPort: "9090"}), "/ui/config.json", "Host", "[::1]:9080")
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.OrchestratorURL != "http://[::1]:9090" {
		t.Errorf("orchestrator_url %q", c.OrchestratorURL)
	}
	if !slices.Contains(c.Roles["operator"], "batches:cancel") || slices.Contains(c.Roles["viewer"], "batches:cancel") ||
		slices.Contains(c.Roles["operator"], "users:read") || len(c.Roles["admin"]) != 15*len(c.Actions) {
		t.Errorf("roles %v", c.Roles)
	}
	// Behind a proxy the configured URL wins, and the policy follows it.
	h := newHandler(t, dashboard.Config{OrchestratorURL: "https://orch.example.com/", OrchestratorPort: "9090"})
	res = get(t, h, "/ui/config.json")
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil || c.OrchestratorURL != "https://orch.example.com" {
		t.Errorf("orchestrator_url %q, %v", c.OrchestratorURL, err)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://orch.example.com wss://orch.example.com") {
		t.Errorf("policy %q", csp)
	}
	for _, bad := range []string{"orch.example.com", "ftp://x", "https://x/?a=1"} {
		if _, err := dashboard.New(dashboard.Config{OrchestratorURL: bad}); err == nil {
			t.Errorf("New accepted orchestrator URL %q", bad)
		}
	}
}

// Files of a build are cached for good under a path of their own; the
// page itself is revalidated, so an upgrade is seen at the next load.
func TestCachingNeverServesAStalePage(t *testing.T) {
	t.Parallel()
	h := newHandler(t, dashboard.Config{OrchestratorPort: "9090"})
	asset := get(t, h, h.AssetPath()+"js/main.js")
	if asset.StatusCode != http.StatusOK || !strings.Contains(asset.Header.Get("Cache-Control"), "immutable") ||
		asset.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("asset: %d %v", asset.StatusCode, asset.Header)
	}
	page := get(t, h, "/ui/batches/x")
	body, _ := io.ReadAll(page.Body)
	if page.Header.Get("Cache-Control") != "no-cache" || page.Header.Get("ETag") == "" || !strings.Contains(string(body), h.AssetPath()+"js/main.js") {
		t.Errorf("page: %v %s", page.Header, body)
	}
	if again := get(t, h, "/ui/", "If-None-Match", page.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d", again.StatusCode)
	}
	if old := get(t, h, "/ui/assets/0123456789abcdef/js/main.js"); old.StatusCode != http.StatusNotFound || old.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("another build's file: %d %v", old.StatusCode, old.Header)
	}
	if missing := get(t, h, h.AssetPath()+"js/nope.js"); missing.StatusCode != http.StatusNotFound {
		t.Errorf("a missing file: %d", missing.StatusCode)
	}
	req := httptest.NewRequest(http.MethodPost, "/ui/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// The files hold no inline script or style and no HTML string sink, so
// the policy holds without exceptions (Trusted Types would refuse the
// sinks at run time; this finds them before).
func TestNoInlineCodeAndNoHTMLSinks(t *testing.T) {
	t.Parallel()
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`)
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(['"]style`)
	err := filepath.WalkDir("web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, "vendor") && !strings.HasSuffix(path, ".js") && !strings.HasSuffix(path, ".mjs") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".html") && inline.Match(b) {
			t.Errorf("%s has inline script or style: %s", path, inline.Find(b))
		}
		if (strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".mjs")) && sinks.Match(b) {
			t.Errorf("%s uses an HTML or code sink: %s", path, sinks.Find(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The vendored files are the ones docs/dashboard.md pins, each by its
// hash: nothing in vendor/ changes unnoticed, nothing is vendored unsaid.
func TestVendoredFilesArePinned(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/dashboard.md")
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `([0-9a-f]{64})` \\|$").FindAllStringSubmatch(string(doc), -1) {
		pinned[m[1]] = m[2]
	}
	if len(pinned) == 0 {
		t.Fatal("docs/dashboard.md pins nothing: the table is gone or malformed")
	}
	err = filepath.WalkDir("web/vendor", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(filepath.ToSlash(path), "web/vendor/")
		sum := sha256.Sum256(b)
		want, ok := pinned[name]
		switch {
		case !ok:
			t.Errorf("%s is vendored but not pinned in docs/dashboard.md", name)
		case want != hex.EncodeToString(sum[:]):
			t.Errorf("%s: sha256 %x, docs/dashboard.md pins %s", name, sum, want)
		}
		delete(pinned, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range pinned {
		t.Errorf("docs/dashboard.md pins %s, which is not vendored", name)
	}
}
