package webhooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"provisioning/events"
	"provisioning/outward"
)

// JetStream names of the delivery machinery.
const (
	// JobsStream holds delivery jobs until an attempt settles them
	// (work-queue retention: an acknowledged job is gone).
	JobsStream = "PROV_WEBHOOKS"
	jobsPrefix = "prov.webhooks.jobs"
	// DispatchConsumer is the durable consumer of PROV_EVENTS shared by
	// every instance's dispatcher.
	DispatchConsumer = "webhook-dispatch"
	// RetryConsumer is the durable consumer of the retries asked for by
	// hand in PROV_DELIVERIES, shared the same way.
	RetryConsumer = "webhook-retries"
)

func jobsSubject(webhookID string) string  { return jobsPrefix + "." + webhookID }
func consumerName(webhookID string) string { return "webhook_" + webhookID }

// job is one delivery of one event to one endpoint, as queued.
type job struct {
	DeliveryID string `json:"delivery_id"`
	WebhookID  string `json:"webhook_id"`
	Event      string `json:"event"`
	EventID    string `json:"event_id"`
	EventSeq   uint64 `json:"event_seq"`
	// Body is the payload without its signature; the secret signs it at
	// each attempt, so a changed secret applies to queued jobs too.
	Body json.RawMessage `json:"body"`
	// PriorAttempts numbers the attempts of a manual retry on from the
	// earlier ones.
	PriorAttempts int `json:"prior_attempts,omitempty"`
	// Round is the retry by hand the job was made for (0: the event's
	// own delivery); a job of an earlier round than the delivery's is
	// superseded.
	Round int `json:"round,omitempty"`
}

// Setup creates the jobs stream and the dispatcher's consumer. It is
// idempotent; call it before appending events that must be delivered
// (the consumer starts with the events stored after its creation).
func (s *Service) Setup(ctx context.Context) error {
	js := s.store.JetStream()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        JobsStream,
		Description: "webhook delivery jobs, one subject per endpoint",
		Subjects:    []string{jobsPrefix + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    s.store.Replicas(),
		Duplicates:  20 * time.Minute,
		Discard:     jetstream.DiscardNew,
	})
	if err != nil {
		return fmt.Errorf("webhooks: set up stream %s: %w", JobsStream, err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, events.EventsStream.Name, jetstream.ConsumerConfig{
		Durable:       DispatchConsumer,
		Description:   "webhooks: turns events into delivery jobs",
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 4096,
		MaxWaiting:    512,
	})
	if err != nil {
		return fmt.Errorf("webhooks: set up consumer %s: %w", DispatchConsumer, err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, events.DeliveriesStream.Name, jetstream.ConsumerConfig{
		Durable:       RetryConsumer,
		Description:   "webhooks: turns retries asked for by hand into delivery jobs",
		FilterSubject: events.TypeSubject(events.WebhookDeliveryRetryRequested),
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1024,
	})
	if err != nil {
		return fmt.Errorf("webhooks: set up consumer %s: %w", RetryConsumer, err)
	}
	return nil
}

// dispatched is an event whose jobs were published; it is acknowledged
// once JetStream has stored all of them.
type dispatched struct {
	msg     jetstream.Msg
	futures []jetstream.PubAckFuture
}

// dispatch turns the events of a durable consumer of stream into jobs
// until ctx ends. Jobs are published in event order from this one
// goroutine (so each endpoint's queue is in stream order) and pipelined:
// a second goroutine acknowledges each event when its jobs are stored.
func (s *Service) dispatch(ctx context.Context, stream events.Stream, consumer string) error {
	js := s.store.JetStream()
	cons, err := js.Consumer(ctx, stream.Name, consumer)
	if err != nil {
		return fmt.Errorf("webhooks: dispatcher: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("webhooks: dispatcher: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	pending := make(chan dispatched, 1024)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		for d := range pending {
			settle(d)
		}
	}()
	defer func() { close(pending); <-acked }()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			s.log.Warn("webhook dispatcher", "err", err)
			continue
		}
		if d, ok := s.dispatchOne(ctx, msg); ok {
			pending <- d
		}
	}
}

func settle(d dispatched) {
	for _, f := range d.futures {
		select {
		case <-f.Ok():
		case <-f.Err():
			_ = d.msg.NakWithDelay(time.Second)
			return
		}
	}
	_ = d.msg.Ack()
}

// dispatchOne publishes the jobs of one event; false when the event was
// settled already (nothing to deliver, or a retry later).
func (s *Service) dispatchOne(ctx context.Context, msg jetstream.Msg) (dispatched, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return dispatched{}, false
	}
	env, err := events.Parse(msg.Data(), meta.Sequence.Stream)
	if err != nil {
		s.log.Error("webhooks: unreadable event not delivered", "stream", meta.Stream, "seq", meta.Sequence.Stream, "err", err)
		_ = msg.Term()
		return dispatched{}, false
	}
	jobs, ids, err := s.jobsFor(ctx, env)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("webhooks: dispatch later", "seq", env.Seq, "err", err)
		}
		_ = msg.NakWithDelay(time.Second)
		return dispatched{}, false
	}
	if len(jobs) == 0 {
		_ = msg.Ack()
		return dispatched{}, false
	}
	d := dispatched{msg: msg}
	js := s.store.JetStream()
	for i, j := range jobs {
		body, err := json.Marshal(j)
		if err == nil {
			var f jetstream.PubAckFuture
			f, err = js.PublishMsgAsync(&nats.Msg{Subject: jobsSubject(j.WebhookID), Data: body}, jetstream.WithMsgID(ids[i]))
			d.futures = append(d.futures, f)
		}
		if err != nil {
			s.log.Warn("webhooks: queue job", "delivery", j.DeliveryID, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return dispatched{}, false
		}
	}
	s.metrics.dispatched.Add(float64(len(jobs)))
	return d, true
}

// jobsFor returns the jobs an event causes and their message ids: one
// per subscribed endpoint for an outward event, one for a manual retry,
// none for other bookkeeping.
func (s *Service) jobsFor(ctx context.Context, env events.Envelope) ([]job, []string, error) {
	if env.Type == events.WebhookDeliveryRetryRequested {
		return s.retryJob(ctx, env)
	}
	if outward.Internal(env) {
		return nil, nil, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.view.WaitFor(wctx, env.Seq); err != nil {
		return nil, nil, err
	}
	ev := outward.Parse(env)
	name := ev.Name
	subs := s.registry.subscribers(env.Seq, name, outward.Match)
	if len(subs) == 0 {
		return nil, nil, nil
	}
	body, err := payload(ev.Data(), env.Time, name)
	if err != nil {
		return nil, nil, err
	}
	jobs := make([]job, len(subs))
	ids := make([]string, len(subs))
	for i, wid := range subs {
		id := DeliveryID(env, wid)
		jobs[i] = job{DeliveryID: id, WebhookID: wid, Event: name, EventID: env.ID, EventSeq: env.Seq, Body: body}
		ids[i] = id
	}
	return jobs, ids, nil
}

func (s *Service) retryJob(ctx context.Context, env events.Envelope) ([]job, []string, error) {
	var d events.WebhookDeliveryRetryRequestedData
	if err := env.Decode(&d); err != nil {
		return nil, nil, nil // unreadable: nothing to do, ever
	}
	orig, err := s.store.Get(ctx, events.EventsStream, d.EventSeq)
	if err != nil {
		return nil, nil, err
	}
	body, err := payload(outward.Parse(orig).Data(), orig.Time, d.Event)
	if err != nil {
		return nil, nil, err
	}
	j := job{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID, Event: d.Event, EventID: d.EventID, EventSeq: d.EventSeq,
		Body: body, PriorAttempts: d.Attempts, Round: d.Round}
	return []job{j}, []string{env.ID}, nil
}

// payload is the unsigned body: {event, timestamp, data}.
func payload(data json.RawMessage, at time.Time, name string) (json.RawMessage, error) {
	return json.Marshal(unsignedPayload{Event: name, Timestamp: at, Data: data})
}

// DeliveryID is the id of the delivery of env to an endpoint: the
// webhook-id header. It is derived from both (a ULID with the event's
// time and entropy from their hash), so a re-dispatched event yields the
// same id and JetStream drops the duplicate job.
func DeliveryID(env events.Envelope, webhookID string) string {
	sum := sha256.Sum256([]byte(env.ID + "/" + webhookID))
	id, err := ulid.New(ulid.Timestamp(env.Time), bytes.NewReader(sum[:]))
	if err != nil {
		return events.NewID()
	}
	return id.String()
}
