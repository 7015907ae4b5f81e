// Package ratelimit keeps go-chi/httprate's counters in JetStream, so the
// limits hold across every instance on one NATS deployment. Counters live
// in a counter stream (Nats-Incr, JetStream's distributed counter CRDT):
// an increment is one request whose answer carries the new total.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"provisioning/eventstore"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/httprate"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the counter stream. It is in memory: counters are one or
// two windows old at most and need not survive a restart of the whole
// cluster.
const StreamName = "PROV_RATELIMIT"

const subjectPrefix = "prov.ratelimit"

// Store hands out counters backed by the counter stream.
type Store struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	cfg    jetstream.StreamConfig
	stream jetstream.Stream
	// Timeout bounds one round trip.
	Timeout time.Duration

	mu        sync.Mutex
	recreated time.Time

	// ended caches the counts of windows that have ended, by subject (the
	// subject names the limiter and the key), for every counter of the
	// store: a limiter sharded over several counters reads an ended
	// window once, not once per shard.
	endedMu sync.Mutex
	ended   map[string]int
}

// Open creates or updates the counter stream.
func Open(ctx context.Context, store *eventstore.Store, maxWindow time.Duration) (*Store, error) {
	if maxWindow <= 0 {
		maxWindow = time.Minute
	}
	cfg := jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "rate limit counters",
		Subjects:          []string{subjectPrefix + ".>"},
		Storage:           jetstream.MemoryStorage,
		Replicas:          store.Replicas(),
		AllowMsgCounter:   true,
		AllowDirect:       true,
		MaxMsgsPerSubject: 1,
		// Two windows are read (the current and the previous one).
		MaxAge: 3*maxWindow + time.Minute,
	}
	st, err := store.JetStream().CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("rate limit stream: %w", err)
	}
	return &Store{nc: store.Conn(), js: store.JetStream(), cfg: cfg, stream: st, Timeout: 2 * time.Second, ended: map[string]int{}}, nil
}

// recreate puts the counter stream back after NATS lost it (it lives in
// memory: a restart of the servers empties it), at most once a second.
func (s *Store) recreate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.recreated) < time.Second {
		return
	}
	s.recreated = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	if st, err := s.js.CreateOrUpdateStream(ctx, s.cfg); err == nil {
		s.stream = st
	}
}

// lost reports whether err means the counter stream is gone.
func lost(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// Counter returns the counter of one limiter (auth, general, batch).
func (s *Store) Counter(limiter string) httprate.LimitCounter {
	return &Counter{store: s, limiter: limiter, counted: map[string]bool{}}
}

// Counter implements httprate.LimitCounter with one round trip a request:
// Get counts the request (an increment whose answer is the window's new
// total, every instance's requests included) and reports the count
// before it; the IncrementBy httprate makes for an allowed request is
// then already done and skipped. A refused request stays counted, as in
// most fixed and sliding window limiters. A window that has ended is read
// once and remembered.
type Counter struct {
	store   *Store
	limiter string

	mu sync.Mutex
	// counted marks windows whose last Get counted its request: httprate
	// calls IncrementBy right after Get, under the lock of the key's
	// limiter, for allowed requests only; a refused one leaves the mark,
	// which the key's next Get sets again.
	counted map[string]bool
	limit   int
}

// Config implements httprate.LimitCounter: the limit caps the counts Get
// reports, since refused requests stay counted.
func (c *Counter) Config(requestLimit int, windowLength time.Duration) {
	c.mu.Lock()
	c.limit = requestLimit
	c.mu.Unlock()
}

// Increment implements httprate.LimitCounter.
func (c *Counter) Increment(key string, window time.Time) error {
	return c.IncrementBy(key, window, 1)
}

// IncrementBy implements httprate.LimitCounter; increments Get already
// made are not made again.
func (c *Counter) IncrementBy(key string, window time.Time, amount int) error {
	subj := c.subject(key, window)
	c.mu.Lock()
	if c.counted[subj] {
		delete(c.counted, subj)
		amount--
	}
	c.mu.Unlock()
	if amount <= 0 {
		return nil
	}
	_, err := c.add(subj, amount)
	return err
}

// add increments a window's count and returns its new total.
func (c *Counter) add(subj string, amount int) (int, error) {
	msg := nats.NewMsg(subj)
	msg.Header.Set("Nats-Incr", strconv.Itoa(amount))
	ctx, cancel := context.WithTimeout(context.Background(), c.store.Timeout)
	defer cancel()
	resp, err := c.store.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		if lost(err) {
			c.store.recreate()
		}
		return 0, fmt.Errorf("rate limit increment: %w", err)
	}
	var ack struct {
		Value string `json:"val"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, fmt.Errorf("rate limit increment: %w", err)
	}
	if ack.Error != nil {
		return 0, fmt.Errorf("rate limit increment: %s", ack.Error.Description)
	}
	n, err := strconv.Atoi(ack.Value)
	if err != nil {
		return 0, fmt.Errorf("rate limit increment: value %q: %w", ack.Value, err)
	}
	return n, nil
}

// Get implements httprate.LimitCounter: it counts the request and
// returns the current window's count before it.
func (c *Counter) Get(key string, current, previous time.Time) (int, int, error) {
	subj := c.subject(key, current)
	total, err := c.add(subj, 1)
	if err != nil {
		return 0, 0, err
	}
	c.mu.Lock()
	if len(c.counted) > 100_000 {
		c.counted = map[string]bool{} // only bookkeeping: bound its memory
	}
	c.counted[subj] = true
	cur := total - 1
	if c.limit > 0 {
		cur = min(cur, c.limit)
	}
	c.mu.Unlock()
	prev, err := c.endedCount(c.subject(key, previous))
	if err != nil {
		return 0, 0, err
	}
	return cur, prev, nil
}

// endedCount is the count of a window that has ended, read once.
func (c *Counter) endedCount(subj string) (int, error) {
	s := c.store
	s.endedMu.Lock()
	n, ok := s.ended[subj]
	s.endedMu.Unlock()
	if ok {
		return n, nil
	}
	n, err := c.read(subj)
	if err != nil {
		return 0, err
	}
	s.endedMu.Lock()
	if len(s.ended) > 100_000 {
		s.ended = map[string]int{} // only a cache: bound its memory
	}
	s.ended[subj] = n
	s.endedMu.Unlock()
	return n, nil
}

func (c *Counter) read(subj string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.store.Timeout)
	defer cancel()
	c.store.mu.Lock()
	stream := c.store.stream
	c.store.mu.Unlock()
	raw, err := stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		if lost(err) {
			c.store.recreate()
		}
		return 0, fmt.Errorf("rate limit read: %w", err)
	}
	var v struct {
		Value string `json:"val"`
	}
	if err := json.Unmarshal(raw.Data, &v); err != nil {
		return 0, fmt.Errorf("rate limit read: %w", err)
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil {
		return 0, fmt.Errorf("rate limit read: value %q: %w", v.Value, err)
	}
	return n, nil
}

// subject names one key's window; the key is hashed so any string (an IP,
// a user id) makes a valid subject token.
func (c *Counter) subject(key string, window time.Time) string {
	sum := sha256.Sum256([]byte(key))
	return subjectPrefix + "." + c.limiter + "." + hex.EncodeToString(sum[:12]) + "." + strconv.FormatInt(window.Unix(), 10)
}

// Failures counts failed attempts (wrong passwords, wrong codes) by key
// in the windows of a limit. Unlike Counter, reading a count does not
// count anything: only failures are counted, never the attempts that
// succeed.
type Failures struct {
	c *Counter
}

// Failures returns the failure counter of a limiter.
func (s *Store) Failures(limiter string) *Failures {
	return &Failures{c: &Counter{store: s, limiter: limiter, counted: map[string]bool{}}}
}

// Add counts one failure of key in window.
func (f *Failures) Add(key string, window time.Time) error {
	_, err := f.c.add(f.c.subject(key, window), 1)
	return err
}

// Count returns the failures of key in the current and the previous
// window.
func (f *Failures) Count(key string, current, previous time.Time) (int, int, error) {
	cur, err := f.c.read(f.c.subject(key, current))
	if err != nil {
		return 0, 0, err
	}
	prev, err := f.c.endedCount(f.c.subject(key, previous))
	if err != nil {
		return 0, 0, err
	}
	return cur, prev, nil
}
