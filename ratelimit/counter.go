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
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/httprate"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
)

// StreamName is the counter stream. It is in memory: counters are one or
// two windows old at most and need not survive a restart of the whole
// cluster.
const StreamName = "PROV_RATELIMIT"

const subjectPrefix = "prov.ratelimit"

// Store hands out counters backed by the counter stream.
type Store struct {
	nc     *nats.Conn
	stream jetstream.Stream
	// Timeout bounds one round trip.
	Timeout time.Duration
}

// Open creates or updates the counter stream.
func Open(ctx context.Context, store *events.Store, maxWindow time.Duration) (*Store, error) {
	if maxWindow <= 0 {
		maxWindow = time.Minute
	}
	st, err := store.JetStream().CreateOrUpdateStream(ctx, jetstream.StreamConfig{
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
	})
	if err != nil {
		return nil, fmt.Errorf("rate limit stream: %w", err)
	}
	return &Store{nc: store.Conn(), stream: st, Timeout: 2 * time.Second}, nil
}

// Counter returns the counter of one limiter (auth, general, batch).
func (s *Store) Counter(limiter string) httprate.LimitCounter {
	return &Counter{store: s, limiter: limiter, ended: map[string]int{}}
}

// Counter implements httprate.LimitCounter. Increments go to JetStream
// at once and the current window is read from the stream on every check,
// so every instance sees every other's requests: two round trips a
// request. A window that has ended is read once and remembered.
type Counter struct {
	store   *Store
	limiter string

	mu    sync.Mutex
	ended map[string]int // counts of ended windows, by subject
}

// Config implements httprate.LimitCounter; windows come with each call.
func (c *Counter) Config(requestLimit int, windowLength time.Duration) {}

// Increment implements httprate.LimitCounter.
func (c *Counter) Increment(key string, window time.Time) error {
	return c.IncrementBy(key, window, 1)
}

// IncrementBy implements httprate.LimitCounter.
func (c *Counter) IncrementBy(key string, window time.Time, amount int) error {
	subj := c.subject(key, window)
	msg := nats.NewMsg(subj)
	msg.Header.Set("Nats-Incr", strconv.Itoa(amount))
	ctx, cancel := context.WithTimeout(context.Background(), c.store.Timeout)
	defer cancel()
	resp, err := c.store.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return fmt.Errorf("rate limit increment: %w", err)
	}
	var ack struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return fmt.Errorf("rate limit increment: %w", err)
	}
	if ack.Error != nil {
		return fmt.Errorf("rate limit increment: %s", ack.Error.Description)
	}
	return nil
}

// Get implements httprate.LimitCounter.
func (c *Counter) Get(key string, current, previous time.Time) (int, int, error) {
	cur, err := c.read(c.subject(key, current))
	if err != nil {
		return 0, 0, err
	}
	prevSubj := c.subject(key, previous)
	c.mu.Lock()
	prev, ok := c.ended[prevSubj]
	c.mu.Unlock()
	if !ok {
		if prev, err = c.read(prevSubj); err != nil {
			return 0, 0, err
		}
		c.mu.Lock()
		if len(c.ended) > 100_000 {
			c.ended = map[string]int{} // only a cache: bound its memory
		}
		c.ended[prevSubj] = prev
		c.mu.Unlock()
	}
	return cur, prev, nil
}

func (c *Counter) read(subj string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.store.Timeout)
	defer cancel()
	raw, err := c.store.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
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
