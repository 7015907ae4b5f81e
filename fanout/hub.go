// Package fanout is the in-memory broker between the event stream and
// WebSocket clients: one ordered consumer per instance feeds a Hub, and
// any number of subscriptions read from it.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"provisioning/events"
	"provisioning/outward"
)

// Sentinels of Subscribe and Next.
var (
	// ErrTooOld: the position asked for is no longer (or not yet
	// comfortably) in the hub's window; read it from the event store,
	// then subscribe from the next sequence.
	ErrTooOld = errors.New("position is older than the hub's window")
	// ErrTooSlow: the subscriber fell more than the window behind the
	// hub and was dropped.
	ErrTooSlow = errors.New("subscriber fell too far behind")
	// ErrClosed: the hub stopped.
	ErrClosed = errors.New("hub stopped")
)

// DefaultWindow is how many recent events a hub keeps.
const DefaultWindow = 4096

// Hub keeps a window of the most recent events of PROV_EVENTS and lets
// subscriptions read them.
//
// How it works. Published events go into a ring of Window entries,
// addressed by offset (the count of events published before it), never
// by sequence: sequences have holes (bookkeeping and unreadable events
// are not published). Publishing is O(1) whatever the number of
// subscribers: it writes one ring slot and wakes every waiting reader by
// closing a channel. Each subscription is only a cursor (the offset it
// reads next) and its own goroutine pulls from the ring, so a slow client
// costs nothing to others. A cursor that falls more than Window behind
// the head would read overwritten slots: Next then fails with ErrTooSlow.
// The window is therefore also each client's send buffer.
//
// Resuming (since=N) is gapless: Subscribe(N) succeeds only when every
// published event with sequence >= N is still in the ring (and not more
// than half the window back, so a new subscriber is not born too slow);
// otherwise it returns ErrTooOld and the caller reads the stream from N
// up to its end, then subscribes from the sequence after the last one it
// read. A subscription never yields a sequence below its start, which
// removes duplicates at the seam when the reader got ahead of the hub.
type Hub struct {
	store  *events.Store
	window uint64

	mu     sync.RWMutex
	ring   []*Event
	head   uint64 // offset of the next event to publish
	floor  uint64 // every published event with seq >= floor is in the ring
	pos    uint64 // last sequence the hub has seen
	wake   chan struct{}
	closed bool
	ready  chan struct{}
}

// NewHub returns a hub over store's PROV_EVENTS keeping window events
// (DefaultWindow when 0). Start it with Run.
func NewHub(store *events.Store, window int) *Hub {
	if window <= 0 {
		window = DefaultWindow
	}
	return &Hub{store: store, window: uint64(window), ring: make([]*Event, window),
		wake: make(chan struct{}), ready: make(chan struct{})}
}

// Window is how many events the hub keeps (and a client may lag).
func (h *Hub) Window() int { return int(h.window) }

// Ready is closed once the hub knows its starting position.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Pos is the last sequence the hub has seen.
func (h *Hub) Pos() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.pos
}

// Run follows the stream from its current end until ctx ends, then
// closes the hub: every subscription's Next returns ErrClosed.
func (h *Hub) Run(ctx context.Context) error {
	defer h.close()
	last, err := h.store.LastSeq(ctx, events.EventsStream)
	if err != nil {
		return fmt.Errorf("websocket hub: %w", err)
	}
	h.start(last)
	err = h.store.Follow(ctx, events.EventsStream, events.Position{From: last + 1}, func(env events.Envelope, perr error) error {
		h.Publish(env, perr)
		return nil
	})
	if err != nil {
		return fmt.Errorf("websocket hub: %w", err)
	}
	return nil
}

func (h *Hub) start(last uint64) {
	h.mu.Lock()
	h.pos, h.floor = last, last+1
	h.mu.Unlock()
	close(h.ready)
}

// Publish adds one event in stream order. Run calls it; tests and
// benchmarks that feed a hub themselves call Start first.
func (h *Hub) Publish(env events.Envelope, perr error) {
	var e *Event
	if perr == nil && !outward.Internal(env) {
		e, perr = NewEvent(env)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if env.Seq > h.pos {
		h.pos = env.Seq
	}
	if e == nil {
		return
	}
	slot := h.head % h.window
	if old := h.ring[slot]; old != nil {
		h.floor = old.Seq + 1
	}
	h.ring[slot] = e
	h.head++
	close(h.wake)
	h.wake = make(chan struct{})
}

// Start sets the hub's position for a hub fed by Publish instead of Run.
func (h *Hub) Start(last uint64) { h.start(last) }

func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.wake)
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
}

// Subscription is a cursor into the hub. It is used by one goroutine.
type Subscription struct {
	hub    *Hub
	next   uint64 // offset to read next
	from   uint64 // lowest sequence to yield
	filter Filter
}

// Subscribe starts a subscription yielding events with sequence >= from
// that pass f; from 0 means live: events published from now on. It
// returns ErrTooOld when the hub cannot yield every event from there
// (see Hub), and ErrClosed when the hub has stopped.
func (h *Hub) Subscribe(from uint64, f Filter) (*Subscription, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := &Subscription{hub: h, next: h.head, from: from, filter: f}
	if from == 0 || from > h.pos {
		if from == 0 {
			s.from = h.pos + 1
		}
		return s, nil
	}
	if from < h.floor {
		return nil, fmt.Errorf("%w: seq %d, the hub holds from %d", ErrTooOld, from, h.floor)
	}
	oldest := h.head - min(h.head, h.window)
	for s.next > oldest && h.ring[(s.next-1)%h.window].Seq >= from {
		s.next--
	}
	if h.head-s.next > h.window/2 {
		return nil, fmt.Errorf("%w: seq %d is %d events back", ErrTooOld, from, h.head-s.next)
	}
	return s, nil
}

// Next waits for events and appends up to max of them that pass the
// filter to buf, in stream order. It fails with ErrTooSlow when the
// subscriber fell out of the window, ErrClosed when the hub stopped, or
// ctx's error.
func (s *Subscription) Next(ctx context.Context, buf []*Event, max int) ([]*Event, error) {
	h := s.hub
	for {
		h.mu.RLock()
		if h.head-s.next > h.window {
			h.mu.RUnlock()
			return buf, fmt.Errorf("%w: more than %d events behind", ErrTooSlow, h.window)
		}
		n := len(buf)
		for s.next < h.head && len(buf)-n < max {
			e := h.ring[s.next%h.window]
			s.next++
			if e.Seq >= s.from && s.filter.Match(e) {
				buf = append(buf, e)
			}
		}
		closed, wake := h.closed, h.wake
		h.mu.RUnlock()
		if len(buf) > n {
			return buf, nil
		}
		if closed {
			return buf, ErrClosed
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return buf, ctx.Err()
		}
	}
}

// Lag is how many published events the subscription has not read yet.
func (s *Subscription) Lag() int {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return int(s.hub.head - s.next)
}
