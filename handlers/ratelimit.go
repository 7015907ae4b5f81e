package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"
)

// Limit is one rate limit: Requests per Window. Zero Requests disables it.
type Limit struct {
	Requests int
	Window   time.Duration
}

// ParseLimit reads "100/1m" (requests per duration), "100" (per minute)
// or "0"/"off" (no limit).
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "off" {
		return Limit{}, nil
	}
	n, per, found := strings.Cut(s, "/")
	l := Limit{Window: time.Minute}
	var err error
	if l.Requests, err = strconv.Atoi(n); err != nil || l.Requests < 0 {
		return l, fmt.Errorf("rate limit %q: want requests/duration, like 100/1m", s)
	}
	if found {
		if l.Window, err = time.ParseDuration(per); err != nil || l.Window < time.Second {
			return l, fmt.Errorf("rate limit %q: the window must be a duration of at least 1s", s)
		}
	}
	return l, nil
}

// String formats a limit as ParseLimit reads it.
func (l Limit) String() string {
	if l.Requests == 0 {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.Requests, l.Window)
}

// RateLimits are the three limits of the API reference.
type RateLimits struct {
	// Auth limits authentication attempts per client IP: logins, token
	// refreshes, and requests with a missing or bad token.
	Auth Limit
	// General limits every authenticated request per user.
	General Limit
	// Batch limits batch submissions per user, on top of General.
	Batch Limit
}

// DefaultRateLimits are the reference's: 5/min per IP for authentication,
// 100/min per user in general, 10/min per user for batches.
func DefaultRateLimits() RateLimits {
	return RateLimits{Auth: Limit{5, time.Minute}, General: Limit{100, time.Minute}, Batch: Limit{10, time.Minute}}
}

// Limiters enforce RateLimits with go-chi/httprate; counters is where the
// counts live (ratelimit.Store shares them across instances).
type Limiters struct {
	byName   map[string]*httprate.RateLimiter
	rejected *prometheus.CounterVec
}

// CounterSource hands out a counter per limiter name.
type CounterSource interface {
	Counter(limiter string) httprate.LimitCounter
}

// NewLimiters builds the limiters; reg may be nil.
func NewLimiters(limits RateLimits, counters CounterSource, reg prometheus.Registerer) *Limiters {
	l := &Limiters{
		byName: map[string]*httprate.RateLimiter{},
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_rate_limited_total", Help: "Requests refused with 429, by limiter."}, []string{"limiter"}),
	}
	if reg != nil {
		reg.MustRegister(l.rejected)
	}
	for name, lim := range map[string]Limit{"auth": limits.Auth, "general": limits.General, "batch": limits.Batch} {
		if lim.Requests == 0 {
			continue
		}
		name, lim := name, lim
		opts := []httprate.Option{
			httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
				l.rejected.WithLabelValues(name).Inc()
				writeError(w, r, errorf(http.StatusTooManyRequests, "rate limit exceeded: at most %d requests per %s; retry after %s seconds",
					lim.Requests, lim.Window, w.Header().Get("Retry-After")))
			}),
			httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				writeError(w, r, fmt.Errorf("rate limit %s: %w", name, err))
			}),
		}
		if counters != nil {
			opts = append(opts, httprate.WithLimitCounter(counters.Counter(name)))
		}
		l.byName[name] = httprate.NewRateLimiter(lim.Requests, lim.Window, opts...)
	}
	return l
}

// limited counts one request of key against the named limiter, sets the
// X-RateLimit-* headers, and answers 429 (reporting true) when over.
func (l *Limiters) limited(w http.ResponseWriter, r *http.Request, name, key string) bool {
	if l == nil {
		return false
	}
	rl := l.byName[name]
	if rl == nil {
		return false
	}
	return rl.RespondOnLimit(w, r, name+":"+key)
}
