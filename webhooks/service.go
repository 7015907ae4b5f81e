// Package webhooks delivers events to HTTP endpoints, signed, at least
// once, surviving restarts.
//
// The registry is event-sourced: endpoints are the "webhook" aggregate
// of PROV_EVENTS, folded by every instance into a Registry (a projection
// run by the instance's runner). Delivery has two durable steps, both on
// JetStream and shared by every instance:
//
//  1. The dispatcher, a durable consumer of PROV_EVENTS, turns each event
//     into one job per subscribed endpoint on the work-queue stream
//     PROV_WEBHOOKS (subject prov.webhooks.jobs.<endpoint>), deduplicated
//     by delivery id, then acknowledges the event.
//  2. Each endpoint has its own durable consumer of its jobs, so one slow
//     or dead endpoint never delays another. A failed attempt is
//     negatively acknowledged with the backoff delay; after MaxAttempts
//     the job is acknowledged and the delivery kept as failed.
//
// Every attempt is recorded as a WebhookDeliveryAttempted event (the
// deliveries log); a manual retry is a WebhookDeliveryRetryRequested
// event that the dispatcher turns into a new job. Webhook events are
// never dispatched themselves.
package webhooks

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/secrets"
)

// View is the consistency the service needs from a runner folding a part
// of its Registry (*projections.Runner).
type View interface {
	WaitFor(ctx context.Context, seq uint64) error
	WaitForLatest(ctx context.Context) error
}

// Views are the runners of the registry's two parts: Events folds the
// Registry (PROV_EVENTS), Deliveries its DeliveryLog (PROV_DELIVERIES).
type Views struct {
	Events, Deliveries View
}

// Sentinels of the service's methods.
var (
	// ErrConfigured: the endpoint comes from the config file; change it
	// there.
	ErrConfigured = errors.New("the endpoint is defined in the configuration file")
	// ErrInFlight: a retry of the delivery is queued already.
	ErrInFlight = errors.New("a retry of the delivery is queued already")
)

// Caller is who asks for a change, recorded in its event.
type Caller struct {
	Actor         string
	CorrelationID string
}

// Service registers endpoints and delivers to them. Create it with New,
// then Setup, then Run.
type Service struct {
	store    *eventstore.Store
	secrets  *secrets.Keyring
	registry *Registry
	view     View // of the registry's endpoints
	logView  View // of its delivery log
	cfg      Config
	log      *slog.Logger
	client   *http.Client
	metrics  *metrics

	// Now and Rand are replaceable for tests.
	Now  func() time.Time
	Rand func() float64
}

// New returns a service; cfg is checked and completed with defaults.
// ring seals the endpoints' secrets; reg may be nil.
func New(store *eventstore.Store, ring *secrets.Keyring, registry *Registry, views Views, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &Service{
		store: store, secrets: ring, registry: registry, view: views.Events, logView: views.Deliveries, cfg: cfg, log: log,
		client:  newClient(cfg.AllowPrivateTargets, cfg.Timeout),
		metrics: newMetrics(reg), Now: time.Now, Rand: rand.Float64,
	}, nil
}

// Registry is the service's view of endpoints and deliveries.
func (s *Service) Registry() *Registry { return s.registry }

// Run registers the configured endpoints, then dispatches and delivers
// until ctx ends. An instance with enabled = false only serves the API.
func (s *Service) Run(ctx context.Context) error {
	if !s.cfg.On() {
		<-ctx.Done()
		return nil
	}
	if err := s.Setup(ctx); err != nil {
		return ignoreStop(ctx, err)
	}
	if err := s.registerConfigured(ctx); err != nil {
		return ignoreStop(ctx, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	dispatchEvents := func(ctx context.Context) error { return s.dispatch(ctx, events.EventsStream, DispatchConsumer) }
	dispatchRetries := func(ctx context.Context) error { return s.dispatch(ctx, events.DeliveriesStream, RetryConsumer) }
	for _, run := range []func(context.Context) error{dispatchEvents, dispatchRetries, s.deliverAll} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	// Acks and naks are asynchronous: let the last ones reach the server.
	_ = s.store.Conn().FlushTimeout(time.Second)
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if ctx.Err() != nil {
		return nil // stopped while starting: not a failure
	}
	return errors.Join(all...)
}

func ignoreStop(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Created is the answer to a registration: the endpoint and, this once,
// its secret.
type Created struct {
	Endpoint
	Secret string `json:"secret"`
}

// Create registers an endpoint from the API. The secret is generated
// when the request has none. opts may carry an idempotency key: a
// repeated request returns the first registration.
func (s *Service) Create(ctx context.Context, by Caller, req Request, opts ...eventstore.AppendOption) (Created, error) {
	if err := req.validate(s.cfg.AllowPrivateTargets); err != nil {
		return Created{}, err
	}
	if req.Secret == "" {
		req.Secret = newSecret()
	}
	id := events.NewID()
	sealed, err := s.secrets.SealString(SecretPurpose(id), req.Secret)
	if err != nil {
		return Created{}, err
	}
	data := events.WebhookRegisteredData{WebhookID: id, URL: req.URL, Events: req.Events, SealedSecret: sealed,
		Description: req.Description, Source: events.WebhookSourceAPI}
	stored, err := s.append(ctx, by, events.WebhookRegistered, id, data, append(opts, eventstore.ExpectLast(0))...)
	if err != nil {
		return Created{}, err
	}
	// A repeated Idempotency-Key answers with the first registration,
	// its secret included.
	if err := stored.Decode(&data); err != nil {
		return Created{}, err
	}
	secret, err := s.secrets.OpenStored(SecretPurpose(stored.AggregateID), secrets.Stored{Sealed: data.SealedSecret, Plain: data.Secret})
	if err != nil {
		return Created{}, err
	}
	return Created{Secret: string(secret), Endpoint: Endpoint{
		ID: stored.AggregateID, URL: data.URL, Events: data.Events, Description: data.Description, Source: data.Source,
		Status: StatusActive, CreatedAt: stored.Time, UpdatedAt: stored.Time,
	}}, nil
}

// Delete removes an endpoint registered through the API; its queued
// deliveries are dropped.
func (s *Service) Delete(ctx context.Context, by Caller, id string) error {
	_, err := s.decide(ctx, events.AggWebhook, id, func() (*events.Envelope, error) {
		ep, ok := s.registry.target(id)
		if !ok {
			return nil, fmt.Errorf("%w: webhook %s", eventstore.ErrNotFound, id)
		}
		if ep.Source == events.WebhookSourceConfig {
			return nil, fmt.Errorf("%w: remove %s from [webhooks] and restart", ErrConfigured, ep.URL)
		}
		return event(by, events.WebhookDeleted, id, events.WebhookDeletedData{WebhookID: id})
	})
	return err
}

// Retry sends a delivery again now, keeping its webhook-id: one that
// failed, was delivered, or waits for its next automatic attempt (whose
// job is then superseded). If the attempt fails, the retry schedule
// starts over from it. When its endpoint was disabled, it is enabled
// again. A retry already queued and not attempted yet is ErrInFlight.
func (s *Service) Retry(ctx context.Context, by Caller, deliveryID string) (Delivery, error) {
	wctx, cancel := context.WithTimeout(ctx, decisionWait)
	defer cancel()
	if err := s.logView.WaitForLatest(wctx); err != nil {
		return Delivery{}, err
	}
	d, err := s.retryable(deliveryID)
	if err != nil {
		return Delivery{}, err
	}
	_, err = s.decide(ctx, events.AggWebhook, d.WebhookID, func() (*events.Envelope, error) {
		ep, ok := s.registry.target(d.WebhookID)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: webhook %s", eventstore.ErrNotFound, d.WebhookID)
		case ep.Status != StatusDisabled:
			return nil, nil
		}
		return event(by, events.WebhookEnabled, ep.ID, events.WebhookEnabledData{WebhookID: ep.ID, Reason: "delivery " + deliveryID + " retried by hand"})
	})
	if err != nil {
		return Delivery{}, err
	}
	_, err = s.decide(ctx, events.AggWebhookDelivery, deliveryID, func() (*events.Envelope, error) {
		now, err := s.retryable(deliveryID)
		if err != nil {
			return nil, err
		}
		d = now
		return event(by, events.WebhookDeliveryRetryRequested, d.ID, events.WebhookDeliveryRetryRequestedData{DeliveryID: d.ID,
			WebhookID: d.WebhookID, Event: d.Event, EventID: d.EventID, EventSeq: d.EventSeq, Attempts: d.Attempt, Round: d.Round + 1})
	})
	if err != nil {
		return Delivery{}, err
	}
	d.Status, d.NextRetryAt = DeliveryPending, nil
	return d, nil
}

// retryable returns a delivery that may be retried now: any but one whose
// retry asked for before is still queued (ErrInFlight).
func (s *Service) retryable(id string) (Delivery, error) {
	d, ok := s.registry.Delivery(id)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: delivery %s", eventstore.ErrNotFound, id)
	}
	if d.Status == DeliveryPending {
		return Delivery{}, fmt.Errorf("%w: delivery %s", ErrInFlight, id)
	}
	return d, nil
}

// decisionWait bounds how long a decision waits for the registry to fold
// the event it is decided on.
const decisionWait = 5 * time.Second

// decide appends the event decision builds from the registry, once the
// registry has folded the aggregate's last event, expecting that event: a
// change made meanwhile by another caller or instance makes it decide
// again from the new state.
func (s *Service) decide(ctx context.Context, agg events.Aggregate, id string, decision func() (*events.Envelope, error)) (events.Envelope, error) {
	view := s.view
	if agg == events.AggWebhookDelivery {
		view = s.logView // deliveries are folded from PROV_DELIVERIES
	}
	return s.store.DecideFolded(ctx, eventstore.FenceOf(agg, id), eventstore.Bounded(view, decisionWait), func(events.Envelope, bool) (*events.Envelope, error) {
		return decision()
	})
}

// event is an event of type t about id, recording its caller.
func event(by Caller, t events.Type, id string, data any) (*events.Envelope, error) {
	e, err := events.New(t, id, data)
	e.Actor, e.CorrelationID = by.Actor, by.CorrelationID
	return &e, err
}

func (s *Service) append(ctx context.Context, by Caller, t events.Type, id string, data any, opts ...eventstore.AppendOption) (events.Envelope, error) {
	e, err := event(by, t, id, data)
	if err != nil {
		return events.Envelope{}, err
	}
	return s.store.Append(ctx, *e, opts...)
}

// SecretPurpose binds a sealed signing secret to its endpoint.
func SecretPurpose(webhookID string) string { return "webhook/" + webhookID }

// secretIs reports whether the endpoint's stored secret is secret. One
// that does not open (the wrong key file) is not: registering the
// configured one again repairs it.
func (s *Service) secretIs(ep target, secret string) bool {
	got, err := s.secrets.OpenStored(SecretPurpose(ep.ID), ep.Secret)
	return err == nil && subtle.ConstantTimeCompare(got, []byte(secret)) == 1
}

// system is the caller of the service's own decisions.
var system = Caller{Actor: "system:webhooks"}

// registerConfigured makes the registry match the config file: new or
// changed endpoints are (re)registered under their stable ids, and
// configured endpoints no longer in the file are deleted. Appends expect
// the version read, so instances starting together do it once.
func (s *Service) registerConfigured(ctx context.Context) error {
	if err := s.view.WaitForLatest(ctx); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	want := map[string]bool{}
	for _, c := range s.cfg.Endpoints {
		id := ConfigID(c.URL)
		want[id] = true
		if cur, ok := s.registry.target(id); ok && s.configuredAs(cur, c) {
			continue
		}
		_, err := s.decide(ctx, events.AggWebhook, id, func() (*events.Envelope, error) {
			if cur, ok := s.registry.target(id); ok && s.configuredAs(cur, c) {
				return nil, nil // another instance registered it meanwhile
			}
			sealed, err := s.secrets.SealString(SecretPurpose(id), c.Secret)
			if err != nil {
				return nil, err
			}
			return event(system, events.WebhookRegistered, id, events.WebhookRegisteredData{WebhookID: id, URL: c.URL, Events: c.Events,
				SealedSecret: sealed, Description: c.Description, Source: events.WebhookSourceConfig})
		})
		if err != nil {
			return fmt.Errorf("webhooks: register %s: %w", c.URL, err)
		}
	}
	for _, ep := range s.registry.configured() {
		if want[ep.ID] {
			continue
		}
		_, err := s.decide(ctx, events.AggWebhook, ep.ID, func() (*events.Envelope, error) {
			if _, ok := s.registry.target(ep.ID); !ok {
				return nil, nil
			}
			return event(system, events.WebhookDeleted, ep.ID, events.WebhookDeletedData{WebhookID: ep.ID})
		})
		if err != nil {
			return fmt.Errorf("webhooks: unregister %s: %w", ep.URL, err)
		}
	}
	return nil
}

// configuredAs reports whether an endpoint is registered as c configures
// it, its secret included.
func (s *Service) configuredAs(ep target, c EndpointConfig) bool {
	return ep.URL == c.URL && slices.Equal(ep.Events, c.Events) && ep.Description == c.Description && s.secretIs(ep, c.Secret)
}

// backoff is the wait after failed attempt n (1-based), with jitter.
func (s *Service) backoff(n int) time.Duration {
	sched := s.cfg.RetrySchedule
	d := sched[min(n-1, len(sched)-1)]
	if s.cfg.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + s.cfg.Jitter*(2*s.Rand()-1)))
	}
	return d
}

// Endpoint returns a registered endpoint (without its secret).
func (s *Service) Endpoint(id string) (Endpoint, bool) { return s.registry.Get(id) }

// Endpoints returns a page of endpoints and their count.
func (s *Service) Endpoints(offset, limit int) ([]Endpoint, int) {
	return s.registry.List(offset, limit)
}

// Deliveries returns a page of an endpoint's deliveries, newest first,
// optionally in one status, and how many match.
func (s *Service) Deliveries(webhookID, status string, offset, limit int) ([]Delivery, int) {
	return s.registry.Deliveries(webhookID, status, offset, limit)
}

// WaitDeliveries waits until the delivery log has folded everything
// PROV_DELIVERIES held when it was called (a read after a retry sees it).
func (s *Service) WaitDeliveries(ctx context.Context) error { return s.logView.WaitForLatest(ctx) }

// DeliveryStatuses are the statuses a delivery can be in.
var DeliveryStatuses = []string{DeliveryPending, events.DeliveryRetrying, events.DeliveryDelivered, events.DeliveryFailed}
