package webhooks

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"slices"
	"sync"
	"time"

	"provisioning/events"
	"provisioning/secrets"
)

// Endpoint statuses.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Endpoint is a registered endpoint as the API shows it: never its
// secret.
type Endpoint struct {
	ID                  string     `json:"id"`
	URL                 string     `json:"url"`
	Events              []string   `json:"events"`
	Description         string     `json:"description,omitempty"`
	Source              string     `json:"source"`
	Status              string     `json:"status"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	DisabledAt          *time.Time `json:"disabled_at"`
	DisabledReason      string     `json:"disabled_reason,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	FailingSince        *time.Time `json:"failing_since"`
	LastSuccessAt       *time.Time `json:"last_success_at"`
}

// endpoint is the folded state of one endpoint.
type endpoint struct {
	Endpoint
	// Secret is the signing key as stored: sealed (in the clear from
	// events of older versions); opened for each attempt.
	Secret        secrets.Stored
	RegisteredSeq uint64 // events after it are delivered to it
	Deleted       bool
}

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
// ones are kept; the stream keeps everything).
const DeliveryLogSize = 10000

// Registry is the webhook view: endpoints and their delivery logs, folded
// from PROV_EVENTS. It is a projection (the runner applies events; any
// goroutine reads).
type Registry struct {
	mu    sync.RWMutex
	st    registryState
	wake  chan struct{} // closed when an endpoint changes
	limit int
}

type registryState struct {
	// Version is registryVersion; a snapshot of another version is not
	// used (the registry is rebuilt from the stream).
	Version    int
	Endpoints  map[string]*endpoint
	Order      []string // endpoint ids by first registration
	Deliveries map[string]*Delivery
	Log        map[string][]string // endpoint id -> delivery ids, oldest first
}

// registryVersion changes whenever registryState changes shape.
const registryVersion = 2

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{wake: make(chan struct{}), limit: DeliveryLogSize}
	r.Reset()
	return r
}

// Name implements projections.Projection.
func (r *Registry) Name() string { return "webhooks" }

// Reset implements projections.Projection.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = registryState{Version: registryVersion, Endpoints: map[string]*endpoint{}, Deliveries: map[string]*Delivery{}, Log: map[string][]string{}}
	r.notify()
}

// Snapshot implements projections.Projection.
func (r *Registry) Snapshot() ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(r.st); err != nil {
		return nil, fmt.Errorf("encode webhooks: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore implements projections.Projection.
func (r *Registry) Restore(data []byte) error {
	var st registryState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
		return fmt.Errorf("decode webhooks: %w", err)
	}
	if st.Version != registryVersion {
		return fmt.Errorf("decode webhooks: snapshot version %d, want %d", st.Version, registryVersion)
	}
	for _, m := range []bool{st.Endpoints == nil, st.Deliveries == nil, st.Log == nil} {
		if m {
			return fmt.Errorf("decode webhooks: incomplete snapshot")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = st
	r.notify()
	return nil
}

func (r *Registry) notify() {
	close(r.wake)
	r.wake = make(chan struct{})
}

// Changed is closed at the next change of an endpoint.
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.wake
}

// Apply implements projections.Projection.
func (r *Registry) Apply(env events.Envelope) error {
	switch env.Aggregate {
	case events.AggWebhook:
		r.mu.Lock()
		defer r.mu.Unlock()
		defer r.notify()
		return r.applyEndpoint(env)
	case events.AggWebhookDelivery:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.applyDelivery(env)
	}
	return nil
}

func (r *Registry) applyEndpoint(env events.Envelope) error {
	ep := r.st.Endpoints[env.AggregateID]
	if env.Type == events.WebhookRegistered {
		var d events.WebhookRegisteredData
		if err := env.Decode(&d); err != nil {
			return err
		}
		if ep == nil {
			ep = &endpoint{}
			r.st.Endpoints[env.AggregateID] = ep
			r.st.Order = append(r.st.Order, env.AggregateID)
		}
		if ep.RegisteredSeq == 0 || ep.Deleted {
			*ep = endpoint{Endpoint: Endpoint{ID: env.AggregateID, CreatedAt: env.Time, Status: StatusActive}, RegisteredSeq: env.Seq}
		}
		ep.URL, ep.Events, ep.Description, ep.Source = d.URL, d.Events, d.Description, d.Source
		ep.Secret = secrets.Stored{Sealed: d.SealedSecret, Plain: d.Secret}
		ep.UpdatedAt = env.Time
		return nil
	}
	if ep == nil {
		return fmt.Errorf("%s for unknown webhook %s (seq %d)", env.Type, env.AggregateID, env.Seq)
	}
	ep.UpdatedAt = env.Time
	switch env.Type {
	case events.WebhookDisabled:
		var d events.WebhookDisabledData
		if err := env.Decode(&d); err != nil {
			return err
		}
		at := env.Time
		ep.Status, ep.DisabledAt, ep.DisabledReason = StatusDisabled, &at, d.Reason
	case events.WebhookEnabled:
		ep.Status, ep.DisabledAt, ep.DisabledReason = StatusActive, nil, ""
		ep.ConsecutiveFailures, ep.FailingSince = 0, nil
	case events.WebhookDeleted:
		ep.Deleted = true
		for _, id := range r.st.Log[ep.ID] {
			delete(r.st.Deliveries, id)
		}
		delete(r.st.Log, ep.ID)
	}
	return nil
}

func (r *Registry) applyDelivery(env events.Envelope) error {
	switch env.Type {
	case events.WebhookDeliveryAttempted:
		var d events.WebhookDeliveryAttemptedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		dl := r.delivery(env, d.DeliveryID, d.WebhookID, d.Event, d.EventID, d.EventSeq)
		if dl == nil {
			return nil
		}
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
		r.countOutcome(d.WebhookID, d.Outcome, env.Time)
	case events.WebhookDeliveryRetryRequested:
		var d events.WebhookDeliveryRetryRequestedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		dl := r.delivery(env, d.DeliveryID, d.WebhookID, d.Event, d.EventID, d.EventSeq)
		if dl == nil {
			return nil
		}
		dl.Status, dl.NextRetryAt = DeliveryPending, nil
	}
	return nil
}

// delivery finds or starts the delivery an event is about, and stamps
// it; nil when its endpoint is gone.
func (r *Registry) delivery(env events.Envelope, id, webhookID, event, eventID string, eventSeq uint64) *Delivery {
	ep := r.st.Endpoints[webhookID]
	if ep == nil || ep.Deleted {
		return nil
	}
	dl := r.st.Deliveries[id]
	if dl == nil {
		dl = &Delivery{ID: id, WebhookID: webhookID, Event: event, EventID: eventID, EventSeq: eventSeq, CreatedAt: env.Time}
		r.st.Deliveries[id] = dl
		r.st.Log[webhookID] = append(r.st.Log[webhookID], id)
		r.trim(webhookID)
	}
	dl.UpdatedAt = env.Time
	return dl
}

// countOutcome keeps an endpoint's failure streak.
func (r *Registry) countOutcome(webhookID, outcome string, at time.Time) {
	ep := r.st.Endpoints[webhookID]
	if outcome == events.DeliveryDelivered {
		ep.ConsecutiveFailures, ep.FailingSince, ep.LastSuccessAt = 0, nil, &at
		return
	}
	ep.ConsecutiveFailures++
	if ep.FailingSince == nil {
		ep.FailingSince = &at
	}
}

// trim forgets the oldest delivered deliveries of an endpoint past the
// limit (in steps, so it stays cheap).
func (r *Registry) trim(webhookID string) {
	ids := r.st.Log[webhookID]
	if len(ids) <= r.limit+r.limit/4 {
		return
	}
	drop := len(ids) - r.limit
	kept := ids[:0]
	for _, id := range ids {
		if drop > 0 && r.st.Deliveries[id].Status == events.DeliveryDelivered {
			delete(r.st.Deliveries, id)
			drop--
			continue
		}
		kept = append(kept, id)
	}
	r.st.Log[webhookID] = kept
}

// Get returns an endpoint that exists (not deleted).
func (r *Registry) Get(id string) (Endpoint, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ep := r.st.Endpoints[id]
	if ep == nil || ep.Deleted {
		return Endpoint{}, false
	}
	return ep.view(), true
}

func (ep *endpoint) view() Endpoint {
	v := ep.Endpoint
	v.Events = slices.Clone(ep.Events)
	return v
}

// List returns a page of the endpoints, oldest first, and their count.
func (r *Registry) List(offset, limit int) ([]Endpoint, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Endpoint
	total := 0
	for _, id := range r.st.Order {
		ep := r.st.Endpoints[id]
		if ep.Deleted {
			continue
		}
		if total >= offset && len(out) < limit {
			out = append(out, ep.view())
		}
		total++
	}
	return out, total
}

// Delivery returns one delivery.
func (r *Registry) Delivery(id string) (Delivery, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.st.Deliveries[id]
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

// Deliveries returns a page of an endpoint's deliveries, newest first,
// optionally only those in one status, and how many match.
func (r *Registry) Deliveries(webhookID, status string, offset, limit int) ([]Delivery, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := r.st.Log[webhookID]
	var out []Delivery
	total := 0
	for i := len(ids) - 1; i >= 0; i-- {
		d := r.st.Deliveries[ids[i]]
		if status != "" && d.Status != status {
			continue
		}
		if total >= offset && len(out) < limit {
			out = append(out, copyDelivery(d))
		}
		total++
	}
	return out, total
}

// target is what a delivery needs of its endpoint.
type target struct {
	Endpoint
	Secret secrets.Stored
}

func (ep *endpoint) target() target {
	return target{Endpoint: ep.view(), Secret: ep.Secret}
}

// target returns an endpoint with its secret; false when it is gone.
func (r *Registry) target(id string) (target, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ep := r.st.Endpoints[id]
	if ep == nil || ep.Deleted {
		return target{}, false
	}
	return ep.target(), true
}

// subscribers are the active endpoints that get an event named name
// stored at seq: registered before it, and subscribed to the name.
func (r *Registry) subscribers(seq uint64, name string, match func(pattern, name string) bool) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, id := range r.st.Order {
		ep := r.st.Endpoints[id]
		if ep.Deleted || ep.Status != StatusActive || ep.RegisteredSeq >= seq {
			continue
		}
		for _, p := range ep.Events {
			if match(p, name) {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// endpointIDs lists endpoints by state: active ones, and deleted ones.
func (r *Registry) endpointIDs() (active, deleted []string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, id := range r.st.Order {
		ep := r.st.Endpoints[id]
		switch {
		case ep.Deleted:
			deleted = append(deleted, id)
		case ep.Status == StatusActive:
			active = append(active, id)
		}
	}
	return active, deleted
}

// configured lists the endpoints that came from a config file.
func (r *Registry) configured() []target {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []target
	for _, id := range r.st.Order {
		ep := r.st.Endpoints[id]
		if !ep.Deleted && ep.Source == events.WebhookSourceConfig {
			out = append(out, ep.target())
		}
	}
	return out
}
