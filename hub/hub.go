// Package hub fans the event stream out to live subscribers (the
// WebSocket): one ordered consumer per instance feeds a bounded ring of
// recent events and every subscription. A subscription may start in the
// past (since a sequence): it replays from the ring, or from the stream
// when the ring no longer holds that far, and then continues live with
// neither gap nor duplicate at the seam. A subscriber that cannot keep up
// is cut off; it never slows the hub or the others.
//
// The seam: a subscription is registered under the hub's lock at the
// hub's position P; from then on it receives every event after P, while
// the events up to P come from the ring or the stream. Both sides are in
// sequence order, so writing the replay first and the live queue second
// is exactly the stream.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/outward"
)

// Event is one event for subscribers. Its frame is rendered at most once,
// and only when a subscriber needs it: with nobody listening the hub
// costs a parse of the envelope, nothing more.
type Event struct {
	Seq  uint64
	Type events.Type

	env     events.Envelope
	once    sync.Once
	taskID  string
	batchID string
	frame   []byte
}

// Frame is the JSON frame {event_type, timestamp, data, metadata, seq}.
func (ev *Event) Frame() []byte { ev.render(); return ev.frame }

// TaskID and BatchID are the task and batch the event concerns.
func (ev *Event) TaskID() string  { ev.render(); return ev.taskID }
func (ev *Event) BatchID() string { ev.render(); return ev.batchID }

// Frame is what a WebSocket client receives for one event: the
// reference's {event_type, timestamp, data, metadata}, plus seq, the
// event's position in the stream (resume with since=seq+1).
type Frame struct {
	EventType events.Type     `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	Metadata  map[string]any  `json:"metadata"`
	Seq       uint64          `json:"seq"`
}

// Prepare wraps an envelope for subscribers (see package outward for the
// shape of its data).
func Prepare(e events.Envelope) *Event {
	return &Event{Seq: e.Seq, Type: e.Type, env: e}
}

func (ev *Event) render() {
	ev.once.Do(func() {
		e := ev.env
		data, ids := outward.Render(e)
		meta := map[string]any{"event_id": e.ID, "aggregate": e.Aggregate, "aggregate_id": e.AggregateID}
		for k, v := range map[string]string{"task_id": ids.TaskID, "batch_id": ids.BatchID, "operation_id": ids.OperationID,
			"status": ids.Status, "correlation_id": e.CorrelationID} {
			if v != "" {
				meta[k] = v
			}
		}
		ev.frame, _ = json.Marshal(Frame{EventType: e.Type, Timestamp: e.Time, Data: data, Metadata: meta, Seq: e.Seq})
		ev.taskID, ev.batchID = ids.TaskID, ids.BatchID
		ev.env.Data = nil // rendered: the frame holds what is needed
	})
}

// Filter selects events; empty fields select everything.
type Filter struct {
	Types   map[events.Type]bool
	TaskID  string
	BatchID string
}

// Match reports whether ev passes the filter.
func (f Filter) Match(ev *Event) bool {
	return (len(f.Types) == 0 || f.Types[ev.Type]) &&
		(f.TaskID == "" || ev.TaskID() == f.TaskID) &&
		(f.BatchID == "" || ev.BatchID() == f.BatchID)
}

// ErrTooSlow ends a subscription whose queue filled up.
var ErrTooSlow = errors.New("client too slow: its queue of events filled up")

// Hub is the fan-out. Create it with New, run it with Run.
type Hub struct {
	store *eventstore.Store
	log   *slog.Logger
	// QueueSize bounds each subscription's queue of live events.
	QueueSize int

	mu    sync.Mutex
	seq   uint64   // last event delivered to subscribers
	ring  []*Event // recent events, oldest first (a circular buffer)
	head  int      // index of the oldest event in ring once it is full
	full  bool
	subs  map[*Subscription]struct{}
	ready chan struct{}

	clients prometheus.Gauge
	dropped prometheus.Counter
}

// New returns a hub keeping the last ringSize events; reg may be nil.
func New(store *eventstore.Store, log *slog.Logger, ringSize int, reg prometheus.Registerer) *Hub {
	h := &Hub{
		store: store, log: log, QueueSize: 1024,
		ring: make([]*Event, 0, ringSize), subs: map[*Subscription]struct{}{}, ready: make(chan struct{}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "websocket_clients", Help: "Live event subscriptions (WebSocket clients)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "websocket_dropped_total", Help: "Subscriptions cut off because they could not keep up."}),
	}
	if reg != nil {
		reg.MustRegister(h.clients, h.dropped)
	}
	return h
}

// Run follows the stream from its current end until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	last, err := h.store.LastSeq(ctx, events.EventsStream)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("hub: %w", err)
	}
	h.mu.Lock()
	h.seq = last
	h.mu.Unlock()
	close(h.ready)
	err = h.store.Follow(ctx, events.EventsStream, eventstore.Position{From: last + 1}, func(e events.Envelope, perr error) error {
		if perr != nil {
			h.log.Warn("hub skips an unreadable event", "seq", e.Seq, "err", perr)
			return nil
		}
		if outward.Internal(e) {
			return nil // webhook bookkeeping carries secrets: never streamed
		}
		h.publish(Prepare(e))
		return nil
	})
	h.mu.Lock()
	for s := range h.subs {
		s.end(context.Canceled)
	}
	h.mu.Unlock()
	return err
}

func (h *Hub) publish(ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq = ev.Seq
	if cap(h.ring) > 0 {
		if !h.full {
			h.ring = append(h.ring, ev)
			h.full = len(h.ring) == cap(h.ring)
		} else {
			h.ring[h.head] = ev
			h.head = (h.head + 1) % len(h.ring)
		}
	}
	for s := range h.subs {
		if ev.Seq < s.min || !s.filter.Match(ev) {
			continue
		}
		select {
		case s.live <- ev:
		default:
			h.dropped.Inc()
			h.remove(s, ErrTooSlow)
		}
	}
}

// recent returns the ring's events with seq >= since, and whether the
// ring reaches back that far.
func (h *Hub) recent(since uint64) ([]*Event, bool) {
	n := len(h.ring)
	if n == 0 {
		return nil, since > h.seq
	}
	oldest := h.ring[h.head%n]
	if since < oldest.Seq && oldest.Seq > 1 {
		return nil, false
	}
	var out []*Event
	for i := 0; i < n; i++ {
		ev := h.ring[(h.head+i)%n]
		if ev.Seq >= since {
			out = append(out, ev)
		}
	}
	return out, true
}

// Subscription is one subscriber's view: a replay of the past (when asked
// for), then the live queue.
type Subscription struct {
	hub    *Hub
	filter Filter
	since  uint64   // where the replay from the stream starts (0: none)
	min    uint64   // the first sequence wanted (since may be ahead of the hub)
	from   uint64   // the hub's position at registration
	ring   []*Event // replay from the ring, when it reached back far enough
	live   chan *Event
	done   chan struct{}
	once   sync.Once
	err    error
}

// Subscribe registers a subscription. since > 0 asks for every event from
// that sequence on (inclusive) before the live ones. queue bounds its live
// queue (0: the hub's QueueSize).
func (h *Hub) Subscribe(ctx context.Context, f Filter, since uint64, queue int) (*Subscription, error) {
	if queue <= 0 {
		queue = h.QueueSize
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s := &Subscription{hub: h, filter: f, since: since, min: since, live: make(chan *Event, queue), done: make(chan struct{})}
	h.mu.Lock()
	s.from = h.seq
	if since > 0 && since <= h.seq {
		if recent, ok := h.recent(since); ok {
			s.ring = recent
			s.since = 0 // nothing left to read from the stream
		}
	} else {
		s.since = 0
	}
	h.subs[s] = struct{}{}
	h.clients.Inc()
	h.mu.Unlock()
	return s, nil
}

// Replay calls fn, in order, for every event the subscription asked for
// from the past (those up to the hub's position when it subscribed).
func (s *Subscription) Replay(ctx context.Context, fn func(*Event) error) error {
	for _, ev := range s.ring {
		if s.filter.Match(ev) {
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
	s.ring = nil
	if s.since == 0 {
		return nil
	}
	return s.hub.store.Read(ctx, events.EventsStream, eventstore.Position{From: s.since}, func(e events.Envelope, perr error) error {
		if e.Seq > s.from {
			return eventstore.ErrStop
		}
		if perr != nil || outward.Internal(e) {
			return nil
		}
		ev := Prepare(e)
		if !s.filter.Match(ev) {
			return nil
		}
		return fn(ev)
	})
}

// Live is the queue of events after the subscription's start.
func (s *Subscription) Live() <-chan *Event { return s.live }

// Done is closed when the subscription ends; Err says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is ErrTooSlow, context.Canceled (the hub stopped) or nil.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.remove(s, nil)
}

// remove ends s; the caller holds the hub's lock.
func (h *Hub) remove(s *Subscription, err error) {
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.clients.Dec()
	}
	s.end(err)
}

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}
