package webhooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Config is the [webhooks] table of the configuration file. Zero values
// take the defaults of DefaultConfig.
type Config struct {
	// Enabled: this instance registers the configured endpoints and
	// delivers (default true). Instances sharing a NATS cluster share
	// the work either way.
	Enabled *bool `toml:"enabled"`
	// AllowPrivateTargets lets endpoints resolve to loopback, private and
	// link-local addresses (off by default: a webhook URL must not reach
	// into our own network).
	AllowPrivateTargets bool `toml:"allow_private_targets"`
	// Timeout bounds one attempt: connect, send, and the answer's
	// headers and bounded body.
	Timeout time.Duration `toml:"timeout"`
	// RetrySchedule is the wait before attempt 2, 3, …; past its end the
	// last entry repeats. Each wait is spread by ±Jitter (a fraction).
	RetrySchedule []time.Duration `toml:"retry_schedule"`
	Jitter        float64         `toml:"jitter"`
	// MaxAttempts per delivery; then it is kept as failed, retryable by
	// hand.
	MaxAttempts int `toml:"max_attempts"`
	// Concurrency is how many deliveries to one endpoint this instance
	// has in flight at once.
	Concurrency int `toml:"concurrency"`
	// An endpoint whose attempts have all failed for DisableAfter, and at
	// least DisableAfterFailures of them, is disabled.
	DisableAfter         time.Duration `toml:"disable_after"`
	DisableAfterFailures int           `toml:"disable_after_failures"`
	// Endpoints defined here are registered at start with stable ids.
	Endpoints []EndpointConfig `toml:"endpoints"`
}

// EndpointConfig is one configured endpoint, as in the API reference:
// { url = "…", events = ["task.completed"], secret = "…" }.
type EndpointConfig struct {
	URL         string   `toml:"url"`
	Events      []string `toml:"events"`
	Secret      string   `toml:"secret"`
	Description string   `toml:"description"`
}

// DefaultConfig: Standard Webhooks' spirit (attempts over about a day
// and a half: 5s, 5m, 30m, 2h, 5h, 10h, 10h), 15 s per attempt, and
// endpoints disabled after five days of nothing but failures.
func DefaultConfig() Config {
	on := true
	return Config{
		Enabled:              &on,
		Timeout:              15 * time.Second,
		RetrySchedule:        []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		Jitter:               0.2,
		MaxAttempts:          8,
		Concurrency:          4,
		DisableAfter:         5 * 24 * time.Hour,
		DisableAfterFailures: 10,
	}
}

// WithDefaults fills zero values and checks the rest.
func (c Config) WithDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Enabled == nil {
		c.Enabled = d.Enabled
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if len(c.RetrySchedule) == 0 {
		c.RetrySchedule = d.RetrySchedule
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = d.DisableAfter
	}
	if c.DisableAfterFailures == 0 {
		c.DisableAfterFailures = d.DisableAfterFailures
	}
	switch {
	case c.Timeout < 0:
		return c, fmt.Errorf("webhooks: timeout must be positive")
	case c.Jitter < 0 || c.Jitter >= 1:
		return c, fmt.Errorf("webhooks: jitter must be in [0, 1), not %g", c.Jitter)
	case c.MaxAttempts < 1:
		return c, fmt.Errorf("webhooks: max_attempts must be at least 1")
	case c.Concurrency < 1 || c.Concurrency > 256:
		return c, fmt.Errorf("webhooks: concurrency must be 1..256")
	case c.DisableAfter < 0 || c.DisableAfterFailures < 0:
		return c, fmt.Errorf("webhooks: disable_after and disable_after_failures must be positive")
	}
	for i, d := range c.RetrySchedule {
		if d < 0 {
			return c, fmt.Errorf("webhooks: retry_schedule[%d] is negative", i)
		}
	}
	seen := map[string]bool{}
	for i, e := range c.Endpoints {
		if seen[e.URL] {
			return c, fmt.Errorf("webhooks: endpoints[%d]: %s is listed twice", i, e.URL)
		}
		seen[e.URL] = true
		if e.Secret == "" {
			return c, fmt.Errorf("webhooks: endpoints[%d] (%s): secret is required: receivers need it to verify signatures", i, e.URL)
		}
		req := Request{URL: e.URL, Events: e.Events, Secret: e.Secret, Description: e.Description}
		if err := req.validate(c.AllowPrivateTargets); err != nil {
			return c, fmt.Errorf("webhooks: endpoints[%d]: %w", i, err)
		}
	}
	return c, nil
}

// On reports whether this instance delivers.
func (c Config) On() bool { return c.Enabled == nil || *c.Enabled }

// ConfigID is the stable id of a configured endpoint, derived from its
// URL: the same file gives the same ids on every instance and restart.
func ConfigID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "cfg-" + hex.EncodeToString(sum[:10])
}
