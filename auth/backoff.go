package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrAccountLocked: the account's failed logins, MFA codes or password
// proofs reached its limit; every attempt is refused until the window
// slides, the right password's too. Names that are no account are locked
// alike, so the refusal tells nothing about which accounts exist.
var ErrAccountLocked = errors.New("too many failed attempts for this account")

// Lockout is the refusal of an attempt on a locked account: its limit and
// when the window it was counted in ends.
type Lockout struct {
	Limit  int
	Window time.Duration
	Reset  time.Time
	now    time.Time
}

// RetryAfter is the wait until the window ends, in whole seconds.
func (l *Lockout) RetryAfter() int { return int(l.Reset.Sub(l.now).Seconds()) + 1 }

func (l *Lockout) Error() string {
	return fmt.Sprintf("too many failed logins for this account; retry after %d seconds", l.RetryAfter())
}

// Unwrap returns ErrAccountLocked.
func (l *Lockout) Unwrap() error { return ErrAccountLocked }

// FailureCounter counts failed attempts by key in fixed windows without
// counting the reads (*ratelimit.Failures, shared by every instance).
type FailureCounter interface {
	Add(key string, window time.Time) error
	Count(key string, current, previous time.Time) (int, int, error)
}

// Backoff slows guessing of one account from any number of addresses:
// after Limit failures within a sliding Window (weighted over two fixed
// windows, like the rate limits), attempts on that account are refused
// until the window slides. It is keyed by the name as typed (folded like
// usernames), existing or not. A counter that cannot be reached locks
// nothing: the limit protects accounts, it must not take logins down.
type Backoff struct {
	Limit   int
	Window  time.Duration
	Counter FailureCounter // nil: counted in this process only
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	once sync.Once
}

func (b *Backoff) on() bool { return b != nil && b.Limit > 0 && b.Window > 0 }

func (b *Backoff) init() {
	b.once.Do(func() {
		if b.Counter == nil {
			b.Counter = &localFailures{counts: map[string]int{}}
		}
		if b.Now == nil {
			b.Now = time.Now
		}
	})
}

func backoffKey(account string) string { return "account:" + NameKey(account) }

// Locked returns a *Lockout when account's attempts are refused for now.
func (b *Backoff) Locked(account string) error {
	if !b.on() {
		return nil
	}
	b.init()
	now := b.Now().UTC()
	current := now.Truncate(b.Window)
	cur, prev, err := b.Counter.Count(backoffKey(account), current, current.Add(-b.Window))
	if err != nil {
		return nil
	}
	elapsed := now.Sub(current)
	rate := float64(prev)*float64(b.Window-elapsed)/float64(b.Window) + float64(cur)
	if rate < float64(b.Limit) {
		return nil
	}
	return &Lockout{Limit: b.Limit, Window: b.Window, Reset: current.Add(b.Window), now: now}
}

// Failed counts a failed attempt on account.
func (b *Backoff) Failed(account string) error {
	if !b.on() {
		return nil
	}
	b.init()
	return b.Counter.Add(backoffKey(account), b.Now().UTC().Truncate(b.Window))
}

// localFailures counts failures in this process.
type localFailures struct {
	mu     sync.Mutex
	counts map[string]int
}

func (m *localFailures) Add(key string, window time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.counts) > 100_000 {
		m.counts = map[string]int{} // only a guard: bound its memory
	}
	m.counts[key+"@"+window.String()]++
	return nil
}

func (m *localFailures) Count(key string, current, previous time.Time) (int, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[key+"@"+current.String()], m.counts[key+"@"+previous.String()], nil
}
