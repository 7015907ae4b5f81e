package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// CORS says which browser pages of another origin may call an API: the
// dashboard (a page of the control center, on the same host name as the
// API and the control center's port) and the origins an operator lists.
// Tokens travel in the Authorization header, never in cookies, so no
// answer allows credentials. A nil *CORS allows no other origin.
type CORS struct {
	// DashboardPort is the control center's port: a page on the request's
	// own host name and this port is the dashboard.
	DashboardPort string
	// Origins are more origins, each "scheme://host[:port]", where host
	// may start with "*." (any subdomain), or "*" for any origin.
	Origins []string
}

// ParseOrigins checks a list of --cors-origins entries.
func ParseOrigins(list []string) ([]string, error) {
	var out []string
	for _, o := range list {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
				(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				return nil, fmt.Errorf("%q is not an origin: want scheme://host[:port] (https://ops.example.com, https://*.example.com) or *", o)
			}
			o = u.Scheme + "://" + strings.ToLower(u.Host)
		}
		out = append(out, o)
	}
	return out, nil
}

// Allows reports whether a page of origin may call the API the request
// for host (its Host header) reached.
func (c *CORS) Allows(origin, host string) bool {
	if c == nil || origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	if c.DashboardPort != "" && u.Port() == c.DashboardPort && strings.EqualFold(u.Hostname(), hostName(host)) {
		return true
	}
	for _, allowed := range c.Origins {
		if allowed == "*" {
			return true
		}
		a, err := url.Parse(allowed)
		if err != nil || a.Scheme != u.Scheme {
			continue
		}
		if ok, _ := path.Match(a.Host, strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// hostName is a Host header without its port.
func hostName(host string) string {
	u := url.URL{Host: host}
	return u.Hostname()
}

// What cross-origin pages may send and read.
const (
	corsMethods = "GET, POST, PUT, DELETE"
	corsHeaders = "Authorization, Content-Type, Accept, Idempotency-Key, X-Request-Id"
	corsExposed = "X-Total-Count, X-Limit, X-Offset, Link, X-Request-Id, Location, Retry-After, " +
		"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Idempotent-Replayed, WWW-Authenticate"
)

// Middleware answers preflights (before authentication: they carry no
// token) and marks answers to allowed origins as readable by them.
// Requests from other origins are served as before, without CORS headers:
// their browsers keep the answer from the page, and a preflighted request
// (every request with a token) is never sent.
func (c *CORS) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		if !c.Allows(origin, r.Host) {
			if preflight {
				WriteError(w, r, Errorf(http.StatusForbidden, "origin %s may not call this API (see --cors-origins)", origin))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposed)
		next.ServeHTTP(w, r)
	})
}
