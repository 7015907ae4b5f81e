package handlers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"provisioning/events"
	"provisioning/eventstore"
)

// auditAppender is the part of the event store the Auditor uses.
type auditAppender interface {
	Append(ctx context.Context, e events.Envelope, opts ...eventstore.AppendOption) (events.Envelope, error)
}

// maxAuditBatch bounds the records of one audit message, well under
// NATS's 1 MiB payload limit even with large details.
const maxAuditBatch = 256

// Auditor appends audit records to PROV_AUDIT with group commit: a
// request's record is appended at once when no audit append is in flight;
// records of requests that finish meanwhile wait and go together in the
// next message (AuditBatchRecorded), so under load one append, and with
// `--sync always` one fsync, serves many requests, while an idle system
// adds no delay. Every request still waits until its own record is
// stored, and fails when that append fails.
type Auditor struct {
	Store auditAppender
	// Timeout bounds one append (default 10 s). The append does not end
	// with the request: a client that hangs up does not skip the record.
	Timeout time.Duration

	mu       sync.Mutex
	pending  []*auditWaiter
	flushing bool // a request is appending; it hands over to pending[0]
}

// auditWaiter is one record waiting for its append. Its outcome receives
// exactly one value: the append's error, or lead when it is this
// request's turn to append the records pending by then.
type auditWaiter struct {
	env     events.Envelope
	rec     events.AuditRecordedData
	at      time.Time // when the request ended; a lone record takes the store's time
	outcome chan auditOutcome
}

type auditOutcome struct {
	err  error
	lead bool
}

// Record appends one audit record about request r, adding the client's
// address, the method and path, and the request id to its details, and
// returns once it is stored.
func (a *Auditor) Record(r *http.Request, rec events.AuditRecordedData) error {
	if rec.Details == nil {
		rec.Details = map[string]any{}
	}
	rec.Details["method"] = r.Method
	rec.Details["path"] = r.URL.Path
	rec.Details["ip"] = ClientIP(r)
	rec.Details["request_id"] = RequestID(r.Context())
	e, err := events.New(events.AuditRecorded, events.NewID(), rec)
	if err != nil {
		return err
	}
	e.Actor = Actor(r)
	if rec.UserID != "" {
		e.Actor = "user:" + rec.UserID
	}
	e.CorrelationID = RequestID(r.Context())
	w := &auditWaiter{env: e, rec: rec, at: time.Now().UTC(), outcome: make(chan auditOutcome, 1)}

	a.mu.Lock()
	a.pending = append(a.pending, w)
	lead := !a.flushing
	a.flushing = true
	a.mu.Unlock()
	if !lead {
		if o := <-w.outcome; !o.lead {
			return o.err
		}
	}
	return a.flush(r.Context())
}

// flush appends the pending records (this request's first among them),
// tells the others of the outcome, and hands the turn to the next record
// that arrived meanwhile.
func (a *Auditor) flush(ctx context.Context) error {
	a.mu.Lock()
	n := min(len(a.pending), maxAuditBatch)
	group := a.pending[:n:n]
	a.pending = a.pending[n:]
	a.mu.Unlock()

	timeout := a.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	err := a.append(actx, group)
	cancel()
	for _, w := range group[1:] {
		w.outcome <- auditOutcome{err: err}
	}

	a.mu.Lock()
	if len(a.pending) == 0 {
		a.flushing = false
		a.mu.Unlock()
	} else {
		next := a.pending[0]
		a.mu.Unlock()
		next.outcome <- auditOutcome{lead: true}
	}
	return err
}

// append stores a group: one record as AuditRecorded, several as one
// AuditBatchRecorded.
func (a *Auditor) append(ctx context.Context, group []*auditWaiter) error {
	e := group[0].env
	if len(group) > 1 {
		batch := events.AuditBatchRecordedData{Records: make([]events.AuditBatchEntry, len(group))}
		for i, w := range group {
			batch.Records[i] = events.AuditBatchEntry{ID: w.env.AggregateID, Time: w.at, Actor: w.env.Actor,
				CorrelationID: w.env.CorrelationID, AuditRecordedData: w.rec}
		}
		var err error
		if e, err = events.New(events.AuditBatchRecorded, events.NewID(), batch); err != nil {
			return fmt.Errorf("audit batch of %d records: %w", len(group), err)
		}
		e.Actor = "system:audit"
	}
	if _, err := a.Store.Append(ctx, e); err != nil {
		if len(group) > 1 {
			return fmt.Errorf("append audit batch of %d records (%s and others): %w", len(group), group[0].rec.Action, err)
		}
		return fmt.Errorf("append audit record %s: %w", group[0].rec.Action, err)
	}
	return nil
}
