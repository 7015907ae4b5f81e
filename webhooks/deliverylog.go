package webhooks

import (
	"slices"
	"sync"
	"time"

	"provisioning/events"
)

// Delivery statuses, beside the attempt outcomes delivered, retrying and
// failed.
const DeliveryPending = "pending" // retry requested, not attempted yet

// Delivery is one event delivered (or being delivered) to one endpoint.
// Its id is the webhook-id header, the same on every attempt.
type Delivery struct {
	ID          string     `json:"id"`
	WebhookID   string     `json:"webhook_id"`
	Event       string     `json:"event"`
	EventID     string     `json:"event_id"`
	EventSeq    uint64     `json:"event_seq"`
	Status      string     `json:"status"`
	Attempt     int        `json:"attempt"`
	StatusCode  *int       `json:"status_code"`
	LatencyMS   float64    `json:"latency_ms"`
	Error       *string    `json:"error"`
	NextRetryAt *time.Time `json:"next_retry_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Attempts    []Attempt  `json:"attempts"`
	// Round counts the retries asked for by hand: a job of an earlier
	// round that comes back from its backoff is superseded and not sent.
	Round int `json:"-"`
}

// Attempt is one HTTP attempt of a delivery.
type Attempt struct {
	Attempt     int        `json:"attempt"`
	At          time.Time  `json:"at"`
	Outcome     string     `json:"outcome"`
	StatusCode  *int       `json:"status_code"`
	LatencyMS   float64    `json:"latency_ms"`
	Error       *string    `json:"error"`
	NextRetryAt *time.Time `json:"next_retry_at"`
}

// DeliveryLogSize bounds the deliveries kept per endpoint in memory:
// past it the oldest delivered ones are forgotten (failed and retrying
// ones are kept; the stream keeps everything within its retention).
const DeliveryLogSize = 10000

// DefaultDeliveryRetention is how long PROV_DELIVERIES keeps attempts
// (--delivery-retention), and so how far back the log reaches.
const DefaultDeliveryRetention = 30 * 24 * time.Hour

// streak is an endpoint's run of failed attempts, which a success or a
// retry by hand ends.
type streak struct {
	Failures      int
	FailingSince  *time.Time
	LastSuccessAt *time.Time
	LastAt        time.Time
}

// DeliveryLog is the log of deliveries and their attempts, folded from
// PROV_DELIVERIES (the webhook_delivery aggregate) alone, so that it is
// a function of that stream whatever the events stream's runner has
// folded meanwhile. Deliveries not updated within Retention of the
// newest event are forgotten, as the stream forgets them. It is a
// projection (its runner applies events; any goroutine reads).
type DeliveryLog struct {
	// Retention is the stream's retention (DefaultDeliveryRetention when
	// zero); set it before the runner starts.
	Retention time.Duration

	mu    sync.RWMutex
	st    deliveryState
	limit int
}

type deliveryState struct {
	Version    int
	Deliveries map[string]*Delivery
	Log        map[string][]string // endpoint id -> delivery ids, oldest first
	Streaks    map[string]*streak  // endpoint id -> its failure streak
	PrunedAt   time.Time           // event time of the last pruning
}

const deliveryLogVersion = 1

// NewDeliveryLog returns an empty log.
func NewDeliveryLog() *DeliveryLog {
	l := &DeliveryLog{limit: DeliveryLogSize}
	l.Reset()
	return l
}

// Name implements projections.Projection.
func (l *DeliveryLog) Name() string { return "webhook_deliveries" }

// Reset implements projections.Projection.
func (l *DeliveryLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st = deliveryState{Version: deliveryLogVersion, Deliveries: map[string]*Delivery{}, Log: map[string][]string{}, Streaks: map[string]*streak{}}
}

// Snapshot implements projections.Projection.
func (l *DeliveryLog) Snapshot() ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return encodeState("webhook deliveries", l.st)
}

// Restore implements projections.Projection.
func (l *DeliveryLog) Restore(data []byte) error {
	var st deliveryState
	if err := decodeState("webhook deliveries", data, &st, &st.Version, deliveryLogVersion); err != nil {
		return err
	}
	// gob leaves empty maps out: an empty log is a valid one.
	if st.Deliveries == nil {
		st.Deliveries = map[string]*Delivery{}
	}
	if st.Log == nil {
		st.Log = map[string][]string{}
	}
	if st.Streaks == nil {
		st.Streaks = map[string]*streak{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st = st
	return nil
}

// Apply implements projections.Projection.
func (l *DeliveryLog) Apply(env events.Envelope) error {
	if env.Aggregate != events.AggWebhookDelivery {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(env.Time)
	switch env.Type {
	case events.WebhookDeliveryAttempted:
		var d events.WebhookDeliveryAttemptedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		dl := l.delivery(env, d.DeliveryID, d.WebhookID, d.Event, d.EventID, d.EventSeq)
		a := Attempt{Attempt: d.Attempt, At: env.Time, Outcome: d.Outcome, LatencyMS: d.LatencyMS, NextRetryAt: d.NextRetryAt}
		if d.StatusCode != 0 {
			code := d.StatusCode
			a.StatusCode = &code
		}
		if d.Error != "" {
			msg := d.Error
			a.Error = &msg
		}
		dl.Attempts = append(dl.Attempts, a)
		dl.Status, dl.Attempt, dl.StatusCode, dl.LatencyMS, dl.Error, dl.NextRetryAt = d.Outcome, d.Attempt, a.StatusCode, a.LatencyMS, a.Error, a.NextRetryAt
		l.countOutcome(d.WebhookID, d.Outcome, env.Time)
	case events.WebhookDeliveryRetryRequested:
		var d events.WebhookDeliveryRetryRequestedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		dl := l.delivery(env, d.DeliveryID, d.WebhookID, d.Event, d.EventID, d.EventSeq)
		dl.Status, dl.NextRetryAt = DeliveryPending, nil
		dl.Round = max(dl.Round+1, d.Round)
		// A retry by hand enables the endpoint again: its streak starts
		// over.
		if s := l.st.Streaks[d.WebhookID]; s != nil {
			s.Failures, s.FailingSince = 0, nil
		}
	}
	return nil
}

// delivery finds or starts the delivery an event is about, and stamps it.
func (l *DeliveryLog) delivery(env events.Envelope, id, webhookID, event, eventID string, eventSeq uint64) *Delivery {
	dl := l.st.Deliveries[id]
	if dl == nil {
		dl = &Delivery{ID: id, WebhookID: webhookID, Event: event, EventID: eventID, EventSeq: eventSeq, CreatedAt: env.Time}
		l.st.Deliveries[id] = dl
		l.st.Log[webhookID] = append(l.st.Log[webhookID], id)
		l.trim(webhookID)
	}
	dl.UpdatedAt = env.Time
	return dl
}

// countOutcome keeps an endpoint's failure streak.
func (l *DeliveryLog) countOutcome(webhookID, outcome string, at time.Time) {
	s := l.st.Streaks[webhookID]
	if s == nil {
		s = &streak{}
		l.st.Streaks[webhookID] = s
	}
	s.LastAt = at
	if outcome == events.DeliveryDelivered {
		s.Failures, s.FailingSince, s.LastSuccessAt = 0, nil, &at
		return
	}
	s.Failures++
	if s.FailingSince == nil {
		s.FailingSince = &at
	}
}

// trim forgets the oldest delivered deliveries of an endpoint past the
// limit (in steps, so it stays cheap).
func (l *DeliveryLog) trim(webhookID string) {
	ids := l.st.Log[webhookID]
	if len(ids) <= l.limit+l.limit/4 {
		return
	}
	drop := len(ids) - l.limit
	kept := ids[:0]
	for _, id := range ids {
		if drop > 0 && l.st.Deliveries[id].Status == events.DeliveryDelivered {
			delete(l.st.Deliveries, id)
			drop--
			continue
		}
		kept = append(kept, id)
	}
	l.st.Log[webhookID] = kept
}

// prune forgets the deliveries the stream no longer holds: those not
// updated within the retention before now (an event's time, so the fold
// stays a function of the stream). It runs at most every hundredth of
// the retention.
func (l *DeliveryLog) prune(now time.Time) {
	retention := l.Retention
	if retention <= 0 {
		retention = DefaultDeliveryRetention
	}
	if now.Sub(l.st.PrunedAt) < retention/100 {
		return
	}
	l.st.PrunedAt = now
	cutoff := now.Add(-retention)
	for wid, ids := range l.st.Log {
		kept := ids[:0]
		for _, id := range ids {
			if l.st.Deliveries[id].UpdatedAt.Before(cutoff) {
				delete(l.st.Deliveries, id)
				continue
			}
			kept = append(kept, id)
		}
		if len(kept) == 0 {
			delete(l.st.Log, wid)
			continue
		}
		l.st.Log[wid] = kept
	}
	for wid, s := range l.st.Streaks {
		if s.LastAt.Before(cutoff) {
			delete(l.st.Streaks, wid)
		}
	}
}

// streak returns an endpoint's failure streak, empty when its last
// attempt was before since (another registration's).
func (l *DeliveryLog) streak(webhookID string, since time.Time) streak {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.st.Streaks[webhookID]
	if s == nil || s.LastAt.Before(since) {
		return streak{}
	}
	return *s
}

// Delivery returns one delivery.
func (l *DeliveryLog) Delivery(id string) (Delivery, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	d, ok := l.st.Deliveries[id]
	if !ok {
		return Delivery{}, false
	}
	return copyDelivery(d), true
}

func copyDelivery(d *Delivery) Delivery {
	c := *d
	c.Attempts = slices.Clone(d.Attempts)
	if c.Attempts == nil {
		c.Attempts = []Attempt{}
	}
	return c
}

// Deliveries returns a page of an endpoint's deliveries created at or
// after since, newest first, optionally only those in one status, and
// how many match.
func (l *DeliveryLog) Deliveries(webhookID string, since time.Time, status string, offset, limit int) ([]Delivery, int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ids := l.st.Log[webhookID]
	var out []Delivery
	total := 0
	for i := len(ids) - 1; i >= 0; i-- {
		d := l.st.Deliveries[ids[i]]
		if d.CreatedAt.Before(since) || status != "" && d.Status != status {
			continue
		}
		if total >= offset && len(out) < limit {
			out = append(out, copyDelivery(d))
		}
		total++
	}
	return out, total
}
