package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/eventstore"
)

// Bounds of what is read of an answer.
const (
	maxAnswer  = 64 << 10 // read (and discarded) at most
	maxSnippet = 256      // kept in the error of a failed attempt
)

// deliverAll runs one delivery loop per active endpoint, starting and
// stopping them as the registry changes, until ctx ends.
func (s *Service) deliverAll(ctx context.Context) error {
	running := map[string]context.CancelFunc{}
	cleaned := map[string]bool{}
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	for {
		changed := s.registry.Changed()
		active, deleted := s.registry.endpointIDs()
		want := map[string]bool{}
		for _, id := range active {
			want[id] = true
			if running[id] != nil {
				continue
			}
			lctx, cancel := context.WithCancel(ctx)
			running[id] = cancel
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.deliverLoop(lctx, id)
			}()
		}
		for id, cancel := range running {
			if !want[id] {
				cancel()
				delete(running, id)
			}
		}
		for _, id := range deleted {
			if !cleaned[id] && s.cleanup(ctx, id) == nil {
				cleaned[id] = true
			}
		}
		select {
		case <-changed:
		case <-time.After(30 * time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// cleanup drops a deleted endpoint's consumer and queued jobs.
func (s *Service) cleanup(ctx context.Context, id string) error {
	js := s.store.JetStream()
	if err := js.DeleteConsumer(ctx, JobsStream, consumerName(id)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	str, err := js.Stream(ctx, JobsStream)
	if err != nil {
		return err
	}
	return str.Purge(ctx, jetstream.WithPurgeSubject(jobsSubject(id)))
}

// deliverLoop delivers one endpoint's jobs until ctx ends, starting over
// after errors.
func (s *Service) deliverLoop(ctx context.Context, id string) {
	for ctx.Err() == nil {
		if err := s.deliverTo(ctx, id); err != nil && ctx.Err() == nil {
			s.log.Warn("webhooks: delivery loop restarts", "webhook", id, "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

// consumerConfig is the durable consumer of one endpoint's jobs, shared
// by every instance: explicit acks, no redelivery limit (attempts are
// counted by the service), room for many jobs waiting out their backoff.
// AckWait covers a job waiting for a worker (at most one attempt's
// timeout), its attempt and its recording; a job whose process died
// comes back after it.
func (s *Service) consumerConfig(id string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       consumerName(id),
		Description:   "webhooks: deliveries to endpoint " + id,
		FilterSubject: jobsSubject(id),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       2*s.cfg.Timeout + 10*time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 10000,
		MaxWaiting:    512,
	}
}

// deliverTo runs up to Concurrency attempts at once for one endpoint.
func (s *Service) deliverTo(ctx context.Context, id string) error {
	cons, err := s.store.JetStream().CreateOrUpdateConsumer(ctx, JobsStream, s.consumerConfig(id))
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.Concurrency))
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.cfg.Concurrency)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		msg, err := it.Next()
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.attempt(ctx, msg)
		}()
	}
}

// attempt makes one attempt of a job and settles it: ack when delivered
// or out of attempts, nak with the backoff delay otherwise.
func (s *Service) attempt(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return
	}
	var j job
	if err := json.Unmarshal(msg.Data(), &j); err != nil {
		s.log.Error("webhooks: unreadable job dropped", "err", err)
		_ = msg.Term()
		return
	}
	ep, ok := s.registry.target(j.WebhookID)
	switch {
	case !ok:
		_ = msg.Ack() // endpoint deleted
		return
	case ep.Status != StatusActive:
		_ = msg.NakWithDelay(time.Minute) // kept until enabled again
		return
	}
	_ = msg.InProgress()
	if s.superseded(ctx, j) {
		_ = msg.Ack() // a retry by hand sent it since: this round is over
		return
	}
	n, round := s.attemptNumber(ctx, j, meta.NumDelivered)
	// An attempt once started is finished, recorded and settled even when
	// the service stops meanwhile (the shutdown waits, at most the attempt
	// timeout): a request cut off in flight may have reached the endpoint,
	// and the log could then not say so.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout+10*time.Second)
	defer cancel()
	res := s.post(ctx, ep, j)
	rec := events.WebhookDeliveryAttemptedData{DeliveryID: j.DeliveryID, WebhookID: j.WebhookID, Event: j.Event,
		EventID: j.EventID, EventSeq: j.EventSeq, Attempt: n, StatusCode: res.code,
		LatencyMS: float64(res.latency.Microseconds()) / 1000, Error: res.err}
	var delay time.Duration
	switch {
	case res.ok:
		rec.Outcome = events.DeliveryDelivered
	case res.permanent:
		// Another attempt would be refused the same way: failed now,
		// retryable by hand once the endpoint is fixed.
		rec.Outcome = events.DeliveryFailed
	case round >= s.cfg.MaxAttempts:
		rec.Outcome = events.DeliveryFailed
	default:
		rec.Outcome = events.DeliveryRetrying
		delay = s.backoff(round)
		next := s.Now().Add(delay).UTC()
		rec.NextRetryAt = &next
	}
	s.metrics.attempts.WithLabelValues(rec.Outcome).Inc()
	s.metrics.latency.Observe(res.latency.Seconds())
	seq := s.record(ctx, rec)
	if !res.ok && seq > 0 {
		s.maybeDisable(ctx, ep.ID, seq)
	}
	if rec.Outcome == events.DeliveryRetrying {
		_ = msg.NakWithDelay(delay)
		return
	}
	_ = msg.Ack()
}

// superseded reports whether a retry by hand of the job's delivery was
// asked for after the job was made: the retry's own job sends it, and
// this one (say, back from a backoff of hours) must not send it again.
func (s *Service) superseded(ctx context.Context, j job) bool {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if s.logView.WaitForLatest(wctx) != nil {
		return false
	}
	d, ok := s.registry.log.Delivery(j.DeliveryID)
	return ok && d.Round > j.Round
}

// attemptNumber numbers this attempt from the attempts already recorded
// for the delivery: JetStream's delivery count also counts deliveries an
// instance handed back unattempted when it shut down. round is the
// attempt's number within this job (a manual retry starts a new job).
// When the view cannot catch up in time, the delivery count stands in.
func (s *Service) attemptNumber(ctx context.Context, j job, delivered uint64) (n, round int) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if s.logView.WaitForLatest(wctx) != nil {
		return j.PriorAttempts + int(delivered), int(delivered)
	}
	n = 1
	if d, ok := s.registry.log.Delivery(j.DeliveryID); ok {
		n = d.Attempt + 1
	}
	return n, max(n-j.PriorAttempts, 1)
}

// record appends the attempt to the deliveries log. A failure to record
// does not change what happens to the job: the log is the record of
// deliveries, not their source of truth.
func (s *Service) record(ctx context.Context, rec events.WebhookDeliveryAttemptedData) uint64 {
	e, err := events.New(events.WebhookDeliveryAttempted, rec.DeliveryID, rec)
	if err == nil {
		e.Actor = system.Actor
		e, err = s.store.Append(ctx, e, eventstore.WithIdempotencyKey(fmt.Sprintf("%s.attempt.%d", rec.DeliveryID, rec.Attempt)))
	}
	if err != nil {
		s.log.Error("webhooks: attempt not recorded", "delivery", rec.DeliveryID, "attempt", rec.Attempt, "err", err)
		return 0
	}
	return e.Seq
}

// maybeDisable disables an endpoint whose attempts have all failed for
// DisableAfter, DisableAfterFailures of them at least, as the view sees
// them once it has folded the failed attempt recorded at seq. The decision
// is fenced on the endpoint, so concurrent workers disable it once.
func (s *Service) maybeDisable(ctx context.Context, id string, seq uint64) {
	wctx, cancel := context.WithTimeout(ctx, decisionWait)
	defer cancel()
	if s.logView.WaitFor(wctx, seq) != nil {
		return
	}
	var reason string
	stored, err := s.decide(ctx, events.AggWebhook, id, func() (*events.Envelope, error) {
		ep, ok := s.registry.target(id)
		if !ok || ep.Status != StatusActive {
			return nil, nil
		}
		failures := ep.ConsecutiveFailures
		since := s.Now()
		if ep.FailingSince != nil {
			since = *ep.FailingSince
		}
		if failures < s.cfg.DisableAfterFailures || s.Now().Sub(since) < s.cfg.DisableAfter {
			return nil, nil
		}
		reason = fmt.Sprintf("%d consecutive failed attempts since %s", failures, since.UTC().Format(time.RFC3339))
		return event(system, events.WebhookDisabled, ep.ID,
			events.WebhookDisabledData{WebhookID: ep.ID, Reason: reason, Failures: failures, FailingSince: since.UTC()})
	})
	switch {
	case err != nil:
		s.log.Error("webhooks: disable endpoint", "webhook", id, "err", err)
	case stored.Seq != 0:
		s.log.Warn("webhooks: endpoint disabled", "webhook", id, "reason", reason)
	}
}

// result of one HTTP attempt. permanent: the target is refused for what
// it is (a private address, an invalid URL), not for how it answered;
// retrying cannot help.
type result struct {
	ok        bool
	permanent bool
	code      int
	latency   time.Duration
	err       string
}

// post sends one signed attempt. Errors never quote the URL (it may hold
// a receiver's token) nor the secret.
func (s *Service) post(ctx context.Context, ep target, j job) result {
	opened, err := s.secrets.OpenStored(SecretPurpose(ep.ID), ep.Secret)
	if err != nil {
		s.log.Error("webhooks: the endpoint's secret does not open: is this instance given the deployment's --secrets-key-file?", "webhook", ep.ID, "err", err)
		return result{err: "the endpoint's signing secret cannot be opened (secrets key)"}
	}
	secret := string(opened)
	body := signBody(secret, j.Body)
	actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return result{err: "invalid endpoint URL (not retried)", permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "provisioning-webhooks/1")
	req.Header.Set(HeaderEvent, j.Event)
	signHeaders(req.Header, secret, j.DeliveryID, s.Now(), body)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		res := result{latency: time.Since(start), err: attemptError(actx, err, s.cfg.Timeout)}
		if errors.Is(err, ErrPrivateTarget) {
			res.permanent, res.err = true, res.err+" (not retried)"
		}
		return res
	}
	defer resp.Body.Close()
	answer, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	res := result{code: resp.StatusCode, latency: time.Since(start), ok: resp.StatusCode >= 200 && resp.StatusCode < 300}
	switch {
	case !res.ok:
		res.err = fmt.Sprintf("HTTP %d", resp.StatusCode)
		if snip := snippet(answer); snip != "" {
			res.err += ": " + snip
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			res.err += " (redirects are not followed)"
		}
	case rerr != nil:
		res.ok, res.err = false, "reading the answer: "+attemptError(actx, rerr, s.cfg.Timeout)
	}
	return res
}

func attemptError(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func snippet(b []byte) string {
	if len(b) > maxSnippet {
		b = b[:maxSnippet]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
}
