package webhooks

import (
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
// secret. The failure streak (ConsecutiveFailures, FailingSince,
// LastSuccessAt) comes from the delivery log.
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

// Registry is the webhook view: the endpoints, folded from the webhook
// aggregate of PROV_EVENTS, and beside them their delivery log (see
// DeliveryLog), folded from PROV_DELIVERIES by a runner of its own. It is
// a projection (the runner applies events; any goroutine reads).
type Registry struct {
	mu   sync.RWMutex
	st   registryState
	wake chan struct{} // closed when an endpoint changes
	log  *DeliveryLog
}

type registryState struct {
	// Version is registryVersion; a snapshot of another version is not
	// used (the registry is rebuilt from the stream).
	Version   int
	Endpoints map[string]*endpoint
	Order     []string // endpoint ids by first registration
}

// registryVersion changes whenever registryState changes shape.
const registryVersion = 3

// NewRegistry returns an empty registry and its delivery log.
func NewRegistry() *Registry {
	r := &Registry{wake: make(chan struct{}), log: NewDeliveryLog()}
	r.Reset()
	return r
}

// DeliveryLog is the registry's log of deliveries, a projection of
// PROV_DELIVERIES for a runner of that stream.
func (r *Registry) DeliveryLog() *DeliveryLog { return r.log }

// Name implements projections.Projection.
func (r *Registry) Name() string { return "webhooks" }

// Reset implements projections.Projection.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = registryState{Version: registryVersion, Endpoints: map[string]*endpoint{}}
	r.notify()
}

// Snapshot implements projections.Projection.
func (r *Registry) Snapshot() ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return encodeState("webhooks", r.st)
}

// Restore implements projections.Projection.
func (r *Registry) Restore(data []byte) error {
	var st registryState
	if err := decodeState("webhooks", data, &st, &st.Version, registryVersion); err != nil {
		return err
	}
	if st.Endpoints == nil {
		st.Endpoints = map[string]*endpoint{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = st
	r.notify()
	return nil
}

// notify wakes the waiters of Changed. Call it with mu held.
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

// Apply implements projections.Projection. Only the webhook aggregate
// is folded: delivery records written to PROV_EVENTS by versions before
// PROV_DELIVERIES existed stay in its history, out of the log.
func (r *Registry) Apply(env events.Envelope) error {
	if env.Aggregate != events.AggWebhook {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.notify()
	return r.applyEndpoint(env)
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
	case events.WebhookDeleted:
		ep.Deleted = true
	}
	return nil
}

// Get returns an endpoint that exists (not deleted).
func (r *Registry) Get(id string) (Endpoint, bool) {
	r.mu.RLock()
	ep := r.st.Endpoints[id]
	if ep == nil || ep.Deleted {
		r.mu.RUnlock()
		return Endpoint{}, false
	}
	v := ep.view()
	r.mu.RUnlock()
	return r.withStreak(v, v.CreatedAt), true
}

func (ep *endpoint) view() Endpoint {
	v := ep.Endpoint
	v.Events = slices.Clone(ep.Events)
	return v
}

// withStreak adds the endpoint's failure streak from the delivery log,
// as far as it is about the registration of since.
func (r *Registry) withStreak(v Endpoint, since time.Time) Endpoint {
	s := r.log.streak(v.ID, since)
	v.ConsecutiveFailures, v.FailingSince, v.LastSuccessAt = s.Failures, s.FailingSince, s.LastSuccessAt
	return v
}

// List returns a page of the endpoints, oldest first, and their count.
func (r *Registry) List(offset, limit int) ([]Endpoint, int) {
	r.mu.RLock()
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
	r.mu.RUnlock()
	for i := range out {
		out[i] = r.withStreak(out[i], out[i].CreatedAt)
	}
	return out, total
}

// Delivery returns one delivery of an endpoint that exists.
func (r *Registry) Delivery(id string) (Delivery, bool) {
	d, ok := r.log.Delivery(id)
	if !ok {
		return Delivery{}, false
	}
	if _, exists := r.Get(d.WebhookID); !exists {
		return Delivery{}, false
	}
	return d, true
}

// Deliveries returns a page of an endpoint's deliveries, newest first,
// optionally only those in one status, and how many match (none for an
// endpoint that does not exist).
func (r *Registry) Deliveries(webhookID, status string, offset, limit int) ([]Delivery, int) {
	ep, ok := r.target(webhookID)
	if !ok {
		return nil, 0
	}
	return r.log.Deliveries(webhookID, ep.registered, status, offset, limit)
}

// target is what a delivery needs of its endpoint.
type target struct {
	Endpoint
	Secret secrets.Stored
	// registered is when the endpoint was last registered anew: the
	// deliveries and failures of an earlier registration under the same
	// id (a config endpoint removed and configured again) are not its.
	registered time.Time
}

func (ep *endpoint) target() target {
	return target{Endpoint: ep.view(), Secret: ep.Secret, registered: ep.CreatedAt}
}

// target returns an endpoint with its secret and streak; false when it
// is gone.
func (r *Registry) target(id string) (target, bool) {
	r.mu.RLock()
	ep := r.st.Endpoints[id]
	if ep == nil || ep.Deleted {
		r.mu.RUnlock()
		return target{}, false
	}
	t := ep.target()
	r.mu.RUnlock()
	t.Endpoint = r.withStreak(t.Endpoint, t.registered)
	return t, true
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
