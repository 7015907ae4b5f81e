// Package dashboard serves the operators' web page: the control center's
// and the orchestrator's APIs as a live, browsable, keyboard-usable site.
// Everything the page shows comes from the two public APIs and the
// WebSocket; this package only serves its files (embedded, no build step)
// with strict security headers and a small configuration document.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"provisioning/auth"
)

// Prefix is the path the dashboard is served under.
const Prefix = "/ui/"

//go:embed web
var files embed.FS

// Config says where the page finds the orchestrator.
type Config struct {
	// OrchestratorURL is the orchestrator's base URL as browsers reach it
	// (behind a proxy, say). Empty: the page's own scheme and host name
	// with OrchestratorPort.
	OrchestratorURL string
	// OrchestratorPort is the port the orchestrator listens on.
	OrchestratorPort string
	// Roles maps each built-in role to the "kind:action" pairs it grants,
	// so the page offers only what the signed-in user may do (the APIs
	// decide anyway).
	Roles map[string][]string
	// Version names this build on the page.
	Version string
}

// Handler serves the dashboard under Prefix.
type Handler struct {
	cfg Config
	// bundle is the hash of every embedded file: assets are served under
	// Prefix+"assets/<bundle>/", cached for good, and a new build moves
	// them to a new path, so an upgrade never mixes old and new files.
	bundle string
	assets map[string]asset
	index  asset
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// New reads the embedded files. It fails only on a broken build.
func New(cfg Config) (*Handler, error) {
	if cfg.OrchestratorURL != "" {
		if err := CheckOrchestratorURL(cfg.OrchestratorURL); err != nil {
			return nil, err
		}
		cfg.OrchestratorURL = strings.TrimRight(cfg.OrchestratorURL, "/")
	}
	if cfg.Roles == nil {
		roles, err := BuiltinGrants()
		if err != nil {
			return nil, err
		}
		cfg.Roles = roles
	}
	h := &Handler{cfg: cfg, assets: map[string]asset{}}
	sum := sha256.New()
	var names []string
	err := fs.WalkDir(files, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard files: %w", err)
	}
	sort.Strings(names)
	for _, p := range names {
		body, err := files.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("dashboard file %s: %w", p, err)
		}
		name := strings.TrimPrefix(p, "web/")
		fmt.Fprintf(sum, "%s\x00%d\x00", name, len(body))
		sum.Write(body)
		h.assets[name] = newAsset(name, body)
	}
	h.bundle = hex.EncodeToString(sum.Sum(nil))[:16]
	index, ok := h.assets["index.html"]
	if !ok {
		return nil, fmt.Errorf("dashboard files: index.html is missing")
	}
	delete(h.assets, "index.html")
	h.index = newAsset("index.html", []byte(strings.ReplaceAll(string(index.body), "{{assets}}", h.AssetPath())))
	return h, nil
}

func newAsset(name string, body []byte) asset {
	sum := sha256.Sum256(body)
	ct := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".json":
		ct = "application/json"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	return asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// CheckOrchestratorURL checks a public orchestrator URL: absolute http or
// https, a path prefix at most.
func CheckOrchestratorURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("orchestrator URL %q: want an absolute http or https URL such as https://orchestrator.example.com", s)
	}
	return nil
}

// AssetPath is where this build's files are served.
func (h *Handler) AssetPath() string { return Prefix + "assets/" + h.bundle + "/" }

// ServeHTTP answers GET and HEAD under Prefix: the files of this build
// under AssetPath, the configuration at Prefix+"config.json", and the
// page itself for every other path (the page routes in the browser).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.secure(w, r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == strings.TrimSuffix(Prefix, "/"):
		http.Redirect(w, r, Prefix, http.StatusFound)
	case strings.HasPrefix(p, Prefix+"assets/"):
		h.serveAsset(w, r, strings.TrimPrefix(p, Prefix+"assets/"))
	case p == Prefix+"config.json":
		h.serveConfig(w, r)
	case strings.HasPrefix(p, Prefix):
		w.Header().Set("Cache-Control", "no-cache")
		serve(w, r, h.index)
	default:
		http.NotFound(w, r)
	}
}

// serveAsset serves a file of this build. A file of another build (a page
// loaded before an upgrade asking for a module it had not loaded yet) is
// 404: mixing builds would break in stranger ways, and the page tells the
// user to reload.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	bundle, name, ok := strings.Cut(rest, "/")
	a, found := h.assets[name]
	if !ok || bundle != h.bundle || !found {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "not found: this dashboard build has no such file (reload the page)", http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	serve(w, r, a)
}

func serve(w http.ResponseWriter, r *http.Request, a asset) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}

func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}

// pageConfig is config.json: what the page needs before it can call the
// APIs.
type pageConfig struct {
	OrchestratorURL string              `json:"orchestrator_url"`
	Roles           map[string][]string `json:"roles"`
	Kinds           []string            `json:"kinds"`
	Actions         []string            `json:"actions"`
	Version         string              `json:"version"`
	Assets          string              `json:"assets"`
}

func (h *Handler) serveConfig(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(pageConfig{OrchestratorURL: h.orchestratorOrigin(r), Roles: h.cfg.Roles,
		Kinds: auth.Kinds, Actions: auth.Actions, Version: h.cfg.Version, Assets: h.AssetPath()})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	serve(w, r, newAsset("config.json", body))
}

// hostHeader is a Host header that may be copied into a header: a host
// name or address and an optional port. A forged Host with spaces,
// semicolons or quotes never reaches the policy.
var hostHeader = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

// hostOnly is a valid Host header without its port.
func hostOnly(host string) string {
	if strings.HasPrefix(host, "[") {
		return host[:strings.IndexByte(host, ']')+1]
	}
	name, _, _ := strings.Cut(host, ":")
	return name
}

// orchestratorOrigin is the orchestrator's URL for a page requested as r:
// the configured one, else the page's scheme and host name with the
// orchestrator's port. "" when the request's host cannot be trusted into
// a header.
func (h *Handler) orchestratorOrigin(r *http.Request) string {
	if h.cfg.OrchestratorURL != "" {
		return h.cfg.OrchestratorURL
	}
	if !hostHeader.MatchString(r.Host) || h.cfg.OrchestratorPort == "" {
		return ""
	}
	return scheme(r) + "://" + hostOnly(r.Host) + ":" + h.cfg.OrchestratorPort
}

func wsScheme(httpScheme string) string {
	if httpScheme == "https" {
		return "wss"
	}
	return "ws"
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// secure sets the headers every answer of the dashboard carries: a
// Content-Security-Policy that allows this origin's own files only (no
// inline script or style, no third-party origin, no framing), connections
// to this origin and the orchestrator (HTTP and WebSocket), and no
// referrer, no MIME sniffing.
func (h *Handler) secure(w http.ResponseWriter, r *http.Request) {
	connect := []string{"'self'"}
	if o := h.orchestratorOrigin(r); o != "" {
		u, _ := url.Parse(o)
		connect = append(connect, u.Scheme+"://"+u.Host, wsScheme(u.Scheme)+"://"+u.Host)
	}
	if hostHeader.MatchString(r.Host) {
		// 'self' covers the page's own WebSocket in current browsers;
		// older ones need it spelled out.
		connect = append(connect, wsScheme(scheme(r))+"://"+r.Host)
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
		"object-src 'none'",
		"manifest-src 'self'",
		"require-trusted-types-for 'script'",
		"trusted-types 'none'",
	}, "; "))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}
