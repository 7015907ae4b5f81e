package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"provisioning/outward"
	"provisioning/workflow"
)

// Request is the body of POST /webhooks.
type Request struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Secret      string   `json:"secret,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Limits of a request.
const (
	maxURL         = 2048
	maxEvents      = 64
	minSecret      = 8
	maxSecret      = 256
	maxDescription = 512
)

// validate checks every field and reports all problems at once.
func (r Request) validate(allowPrivate bool) error {
	v := &workflow.ValidationError{}
	if err := checkURL(r.URL, allowPrivate); err != nil {
		v.Add("url", "%s", err)
	}
	switch {
	case len(r.Events) == 0:
		v.Add("events", "is required: a list of event names such as \"task.completed\", \"task.*\" or \"*\"")
	case len(r.Events) > maxEvents:
		v.Add("events", "has %d entries; at most %d", len(r.Events), maxEvents)
	}
	seen := map[string]bool{}
	for i, e := range r.Events {
		field := fmt.Sprintf("events[%d]", i)
		if seen[e] {
			v.Add(field, "%q is listed twice", e)
			continue
		}
		seen[e] = true
		if err := outward.CheckPattern(e); err != nil {
			v.Add(field, "%s", err)
		}
	}
	if r.Secret != "" && (len(r.Secret) < minSecret || len(r.Secret) > maxSecret) {
		v.Add("secret", "must be %d to %d characters (or left out to have one generated)", minSecret, maxSecret)
	}
	if len(r.Description) > maxDescription {
		v.Add("description", "is longer than %d characters", maxDescription)
	}
	if len(v.Fields) > 0 {
		return v
	}
	return nil
}

// checkURL accepts absolute http and https URLs. Targets named by a
// private address are refused here already; names are checked again
// after DNS resolution, when connecting.
func checkURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return fmt.Errorf("is required")
	}
	if len(raw) > maxURL {
		return fmt.Errorf("is longer than %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be http or https, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("has no host")
	}
	if u.User != nil {
		return fmt.Errorf("must not carry credentials: the signature authenticates us")
	}
	if u.Fragment != "" {
		return fmt.Errorf("must not have a #fragment")
	}
	if err := checkNumericHost(u.Hostname()); err != nil {
		return err
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("points at this machine; set allow_private_targets in [webhooks] to allow it")
	}
	if ip, err := netip.ParseAddr(host); err == nil && !publicAddr(ip) {
		return fmt.Errorf("points at a private, loopback or link-local address; set allow_private_targets in [webhooks] to allow it")
	}
	return nil
}

// checkNumericHost refuses an IPv4 address written other than as four
// decimal numbers (127.1, 0x7f.1, 2130706433, 0177.0.0.1): resolvers
// disagree on what those name (some read them as loopback), so what was
// checked at registration would not be what is dialled. A host whose last
// label is a number is such an address, as browsers read URLs.
func checkNumericHost(host string) error {
	host = strings.TrimSuffix(host, ".")
	labels := strings.Split(host, ".")
	last := strings.ToLower(labels[len(labels)-1])
	numeric := last != "" && strings.Trim(last, "0123456789") == ""
	if hex, ok := strings.CutPrefix(last, "0x"); ok && strings.Trim(hex, "0123456789abcdef") == "" {
		numeric = true
	}
	if !numeric || strings.Contains(host, ":") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() || ip.String() != host {
		return fmt.Errorf("has the numeric host %q: write an IPv4 address as four decimal numbers (a.b.c.d)", host)
	}
	return nil
}

// newSecret returns 32 random bytes, base64url: the HMAC key is the
// string's bytes, like any secret given by the user.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
