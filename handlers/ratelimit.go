package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
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

// RateLimits are the three limits of the API reference, and two that
// keep guessing slow without locking out the people behind one address.
type RateLimits struct {
	// Auth limits authentication attempts per client IP: logins and
	// token refreshes.
	Auth Limit
	// Token limits requests with a missing or bad token per client IP:
	// guessing tokens has a budget of its own, so that it cannot spend
	// the logins of everyone behind the same address.
	Token Limit
	// Account limits failed logins (wrong passwords, wrong or missing
	// MFA codes), wrong MFA verification codes and wrong current
	// passwords per account, whatever the address: guessing spread over
	// many addresses is slow too (auth.Backoff enforces it).
	Account Limit
	// General limits every authenticated request per user.
	General Limit
	// Batch limits batch submissions per user, on top of General.
	Batch Limit
}

// DefaultRateLimits are the reference's (5/min per IP for
// authentication, 100/min per user in general, 10/min per user for
// batches), 30/min bad tokens per IP and 10 failed logins per account in
// 15 minutes.
func DefaultRateLimits() RateLimits {
	return RateLimits{Auth: Limit{5, time.Minute}, Token: Limit{30, time.Minute}, Account: Limit{10, 15 * time.Minute},
		General: Limit{100, time.Minute}, Batch: Limit{10, time.Minute}}
}

// MaxWindow is the longest window of the limits (the counters must live
// that long).
func (r RateLimits) MaxWindow() time.Duration {
	return max(r.Auth.Window, r.Token.Window, r.Account.Window, r.General.Window, r.Batch.Window)
}

// Limiters enforce RateLimits with go-chi/httprate; counters is where the
// counts live (ratelimit.Store shares them across instances).
type Limiters struct {
	byName   map[string][]*httprate.RateLimiter // shards, taken in turn
	limits   map[string]Limit
	next     atomic.Uint32
	rejected *prometheus.CounterVec
}

// limiterShards: httprate holds one mutex per limiter while it asks the
// counter, a network round trip here. Shards, each with a counter of its
// own over the same shared counts, let checks run at once, one user's
// included: the count itself is an atomic increment in JetStream, and a
// shard's lock only pairs its own check and increment.
const limiterShards = 32

// CounterSource hands out a counter per limiter name.
type CounterSource interface {
	Counter(limiter string) httprate.LimitCounter
}

// NewLimiters builds the limiters; reg may be nil.
func NewLimiters(limits RateLimits, counters CounterSource, reg prometheus.Registerer) *Limiters {
	l := &Limiters{
		byName: map[string][]*httprate.RateLimiter{},
		limits: map[string]Limit{},
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_rate_limited_total", Help: "Requests refused with 429, by limiter."}, []string{"limiter"}),
	}
	if reg != nil {
		reg.MustRegister(l.rejected)
	}
	for name, lim := range map[string]Limit{"auth": limits.Auth, "token": limits.Token, "general": limits.General, "batch": limits.Batch} {
		if lim.Requests == 0 {
			continue
		}
		l.limits[name] = lim
		l.rejected.WithLabelValues(name) // exported at 0 from the start
		opts := []httprate.Option{
			httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				if st, _ := r.Context().Value(limitStateKey{}).(*limitState); st != nil {
					st.err = fmt.Errorf("rate limit %s: %w", name, err)
				}
			}),
		}
		n := limiterShards
		if counters == nil {
			n = 1 // httprate's own counters are per limiter: one only
		}
		shards := make([]*httprate.RateLimiter, n)
		for i := range shards {
			shardOpts := opts
			if counters != nil {
				shardOpts = append(shardOpts[:len(opts):len(opts)], httprate.WithLimitCounter(counters.Counter(name)))
			}
			shards[i] = httprate.NewRateLimiter(lim.Requests, lim.Window, shardOpts...)
		}
		l.byName[name] = shards
	}
	return l
}

type limitStateKey struct{}

// limitState carries a counter failure from httprate's error handler to
// the check that asked.
type limitState struct{ err error }

// limited counts one request of key against the named limiter, sets the
// X-RateLimit-* headers, and answers 429 (reporting true) when over. When
// the counters cannot be reached (a NATS leader election) the request is
// let through and the failure logged: the limits protect the service,
// they must not take it down with the counter store.
func (l *Limiters) limited(w http.ResponseWriter, r *http.Request, name, key string) bool {
	if l == nil {
		return false
	}
	shards := l.byName[name]
	if shards == nil {
		return false
	}
	rl := shards[l.next.Add(1)%uint32(len(shards))]
	st := &limitState{}
	over := rl.OnLimit(w, r.WithContext(context.WithValue(r.Context(), limitStateKey{}, st)), name+":"+key)
	if st.err != nil {
		Logger(r.Context()).Warn("rate limit not checked, request let through", "limiter", name, "err", st.err)
		return false
	}
	if !over {
		return false
	}
	l.rejected.WithLabelValues(name).Inc()
	// httprate reports limit - rate, negative when the weighted previous
	// window pushes the rate past the limit.
	if n, err := strconv.Atoi(w.Header().Get("X-RateLimit-Remaining")); err == nil && n < 0 {
		w.Header().Set("X-RateLimit-Remaining", "0")
	}
	lim := l.limits[name]
	WriteError(w, r, Errorf(http.StatusTooManyRequests, "rate limit exceeded: at most %d requests per %s; retry after %s seconds",
		lim.Requests, lim.Window, w.Header().Get("Retry-After")))
	return true
}

// limitCheck is one limit a request counts against, and its key.
type limitCheck struct{ name, key string }

// rateLimitHeaders are the headers a limit check sets.
var rateLimitHeaders = []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}

// limitedAll counts a request against every limit of checks, answering
// 429 with the first that is over (its headers describe it). When none
// is, the X-RateLimit-* headers left are those of the tightest: the
// fewest requests remaining, the one that will refuse first.
func (l *Limiters) limitedAll(w http.ResponseWriter, r *http.Request, checks ...limitCheck) bool {
	var tightest []string
	least := -1
	for _, c := range checks {
		for _, h := range rateLimitHeaders {
			w.Header().Del(h)
		}
		if l.limited(w, r, c.name, c.key) {
			return true
		}
		remaining, err := strconv.Atoi(w.Header().Get("X-RateLimit-Remaining"))
		if err != nil {
			continue // the limit is off, or its counter could not be read
		}
		if least < 0 || remaining < least {
			least = remaining
			tightest = tightest[:0]
			for _, h := range rateLimitHeaders {
				tightest = append(tightest, w.Header().Get(h))
			}
		}
	}
	for i, h := range rateLimitHeaders {
		if least < 0 {
			w.Header().Del(h)
		} else {
			w.Header().Set(h, tightest[i])
		}
	}
	return false
}
