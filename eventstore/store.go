package eventstore

import (
	"context"
	"errors"
	"fmt"
	"provisioning/events"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Store appends events to JetStream and reads them back. It is safe for
// concurrent use. Now and NewID may be replaced before first use to make
// tests deterministic.
type Store struct {
	js       jetstream.JetStream
	nc       *nats.Conn
	replicas int
	streams  sync.Map // name -> jetstream.Stream

	// Now stamps events; NewID names them (a ULID by default).
	Now   func() time.Time
	NewID func() string
}

// NewStore returns a store on an established connection.
func NewStore(nc *nats.Conn) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("new store: %w", err)
	}
	return &Store{js: js, nc: nc, Now: time.Now, NewID: events.NewID}, nil
}

// JetStream exposes the JetStream context for packages that keep their own
// KV buckets and consumers next to the streams.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Conn is the NATS connection the store uses.
func (s *Store) Conn() *nats.Conn { return s.nc }

type appendOptions struct {
	expect        *uint64
	expectSubject string
	msgID         string
}

// AppendOption tunes one append.
type AppendOption func(*appendOptions)

// ExpectLast makes the append succeed only if the aggregate's last event is
// at seq (0: the aggregate has no events yet). Otherwise Append returns
// ErrConflict and stores nothing.
func ExpectLast(seq uint64) AppendOption {
	return func(o *appendOptions) { o.expect = &seq }
}

// ExpectLastOn makes the append succeed only if the last event on subject
// (which may hold wildcards, e.g. TypeSubject(t)) is at seq (0: there is
// none). It replaces the aggregate's own ExpectLast: it fences a decision
// made from events of many aggregates.
func ExpectLastOn(subject string, seq uint64) AppendOption {
	return func(o *appendOptions) { o.expect, o.expectSubject = &seq, subject }
}

// WithIdempotencyKey deduplicates the append on key within the stream's
// duplicate window instead of on the event's own id: a second append with
// the same key stores nothing and returns the first event.
func WithIdempotencyKey(key string) AppendOption {
	return func(o *appendOptions) { o.msgID = key }
}

// Append stores e, filling in its ID, Time and SchemaVersion when empty,
// and returns it with Seq set. The event id is the message id, so a retried
// publish is stored once. When the append is a duplicate (same id or
// idempotency key) the first stored event is returned instead.
func (s *Store) Append(ctx context.Context, e events.Envelope, opts ...AppendOption) (events.Envelope, error) {
	msg, o, err := s.prepare(&e, opts)
	if err != nil {
		return events.Envelope{}, err
	}
	ack, err := s.js.PublishMsg(ctx, msg, s.publishOpts(e, o)...)
	if err != nil {
		return events.Envelope{}, s.classify(err, e, o)
	}
	if ack.Duplicate {
		return s.Get(ctx, events.StreamOf(e.Aggregate), ack.Sequence)
	}
	e.Seq = ack.Sequence
	return e, nil
}

// AppendAll stores events concurrently (pipelined, not atomically) and
// returns them with Seq set, in order. opts apply to every event; it is
// meant for independent aggregates, each created with ExpectLast(0) or not
// at all. The first error is returned after every ack has arrived; errs
// reports each event's own outcome.
func (s *Store) AppendAll(ctx context.Context, evs []events.Envelope, opts ...AppendOption) (out []events.Envelope, errs []error) {
	out = make([]events.Envelope, len(evs))
	errs = make([]error, len(evs))
	futures := make([]jetstream.PubAckFuture, len(evs))
	for i := range evs {
		e := evs[i]
		msg, o, err := s.prepare(&e, opts)
		if err != nil {
			errs[i] = err
			continue
		}
		out[i] = e
		f, err := s.js.PublishMsgAsync(msg, s.publishOpts(e, o)...)
		if err != nil {
			errs[i] = s.classify(err, e, o)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			out[i].Seq = ack.Sequence
		case err := <-f.Err():
			var o appendOptions
			for _, opt := range opts {
				opt(&o)
			}
			errs[i] = s.classify(err, out[i], o)
		case <-ctx.Done():
			errs[i] = fmt.Errorf("append %s %s: %w", out[i].Type, out[i].AggregateID, ctx.Err())
		}
	}
	return out, errs
}

func (s *Store) prepare(e *events.Envelope, opts []AppendOption) (*nats.Msg, appendOptions, error) {
	var o appendOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkID(e.AggregateID); err != nil {
		return nil, o, err
	}
	if e.ID == "" {
		e.ID = s.NewID()
	}
	if e.Time.IsZero() {
		e.Time = s.Now().UTC()
	}
	if e.SchemaVersion == 0 {
		e.SchemaVersion = events.SchemaVersion
	}
	body := e.AppendJSON(make([]byte, 0, 256+len(e.Data)))
	if max := s.nc.MaxPayload(); max > 0 && int64(len(body))+512 > max {
		return nil, o, fmt.Errorf("%w: %s %s is %d bytes, the server takes %d", ErrTooLarge, e.Type, e.AggregateID, len(body), max)
	}
	return &nats.Msg{Subject: e.Subject(), Data: body, Header: nats.Header{}}, o, nil
}

func (s *Store) publishOpts(e events.Envelope, o appendOptions) []jetstream.PublishOpt {
	id := o.msgID
	if id == "" {
		id = e.ID
	}
	opts := []jetstream.PublishOpt{
		jetstream.WithMsgID(id),
		// Retry while a stream has no leader (an election, a restart):
		// the message id makes the retry safe.
		jetstream.WithRetryAttempts(20),
		jetstream.WithRetryWait(250 * time.Millisecond),
	}
	if o.expect != nil {
		subject := o.expectSubject
		if subject == "" {
			subject = events.AggregateSubject(e.Aggregate, e.AggregateID)
		}
		opts = append(opts, jetstream.WithExpectLastSequenceForSubject(*o.expect, subject))
	}
	return opts
}

// JetStream error codes we give a meaning to.
const (
	errCodeWrongLastSequence = 10071
	errCodeInsufficientStore = 10047
	errCodeMaxPayload        = 10054
	// A server or account at its JetStream storage limit (max_store)
	// answers these instead of 10047.
	errCodeInsufficientResources = 10023
	errCodeAccountResources      = 10002
)

// storageFullCode reports whether a JetStream API error code is the
// server's answer that its storage is full.
func storageFullCode(code jetstream.ErrorCode) bool {
	switch code {
	case errCodeInsufficientStore, errCodeInsufficientResources, errCodeAccountResources:
		return true
	}
	return false
}

func (s *Store) classify(err error, e events.Envelope, o appendOptions) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		if storageFullCode(apiErr.ErrorCode) {
			return fmt.Errorf("%w: append %s %s: %v", ErrStorageFull, e.Type, e.AggregateID, err)
		}
		switch apiErr.ErrorCode {
		case errCodeWrongLastSequence:
			var at uint64
			if o.expect != nil {
				at = *o.expect
			}
			return fmt.Errorf("%w: %s %s at seq %d", ErrConflict, e.Aggregate, e.AggregateID, at)
		case errCodeMaxPayload:
			return fmt.Errorf("%w: %s %s", ErrTooLarge, e.Type, e.AggregateID)
		}
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%w: %s %s", ErrTooLarge, e.Type, e.AggregateID)
	}
	return fmt.Errorf("append %s %s: %w", e.Type, e.AggregateID, err)
}

// stream returns a handle of st, looked up once: js.Stream costs a round
// trip and the handle stays valid (its methods name the stream).
func (s *Store) stream(ctx context.Context, st events.Stream) (jetstream.Stream, error) {
	if h, ok := s.streams.Load(st.Name); ok {
		return h.(jetstream.Stream), nil
	}
	h, err := s.js.Stream(ctx, st.Name)
	if err != nil {
		return nil, err
	}
	s.streams.Store(st.Name, h)
	return h, nil
}

// Get reads the event stored at seq in stream st.
func (s *Store) Get(ctx context.Context, st events.Stream, seq uint64) (events.Envelope, error) {
	str, err := s.stream(ctx, st)
	if err != nil {
		return events.Envelope{}, fmt.Errorf("get seq %d: %w", seq, err)
	}
	raw, err := str.GetMsg(ctx, seq)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return events.Envelope{}, fmt.Errorf("%w: seq %d in %s", ErrNotFound, seq, st.Name)
		}
		return events.Envelope{}, fmt.Errorf("get seq %d: %w", seq, err)
	}
	return events.Parse(raw.Data, raw.Sequence)
}

// Last reads the most recent event of one aggregate instance.
func (s *Store) Last(ctx context.Context, agg events.Aggregate, id string) (events.Envelope, error) {
	e, err := s.lastMsg(ctx, events.StreamOf(agg), events.AggregateSubject(agg, id))
	switch {
	case errors.Is(err, ErrNotFound):
		return events.Envelope{}, fmt.Errorf("%w: %s %s", ErrNotFound, agg, id)
	case err != nil:
		return events.Envelope{}, fmt.Errorf("last event of %s %s: %w", agg, id, err)
	}
	return e, nil
}

// LastOn reads the most recent event on subject, which may hold
// wildcards (TypeSubject(t): the newest event of type t).
func (s *Store) LastOn(ctx context.Context, subject string) (events.Envelope, error) {
	st, ok := events.StreamOfSubject(subject)
	if !ok {
		return events.Envelope{}, fmt.Errorf("%w: %s is on no stream of ours", events.ErrInvalid, subject)
	}
	e, err := s.lastMsg(ctx, st, subject)
	switch {
	case errors.Is(err, ErrNotFound):
		return events.Envelope{}, fmt.Errorf("%w: no event on %s", ErrNotFound, subject)
	case err != nil:
		return events.Envelope{}, fmt.Errorf("last event on %s: %w", subject, err)
	}
	return e, nil
}

func (s *Store) lastMsg(ctx context.Context, st events.Stream, subject string) (events.Envelope, error) {
	str, err := s.stream(ctx, st)
	if err != nil {
		return events.Envelope{}, err
	}
	raw, err := str.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return events.Envelope{}, ErrNotFound
		}
		return events.Envelope{}, err
	}
	return events.Parse(raw.Data, raw.Sequence)
}

// LastSeq reports the sequence of the newest message in stream st (0 when
// it is empty).
func (s *Store) LastSeq(ctx context.Context, st events.Stream) (uint64, error) {
	str, err := s.stream(ctx, st)
	if err != nil {
		return 0, fmt.Errorf("last seq of %s: %w", st.Name, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("last seq of %s: %w", st.Name, err)
	}
	// Events missing at the end (a lost part of a block file whose index
	// survived) are never delivered: waiting for them would never end.
	last, err := s.lastExisting(ctx, str, info.State)
	if err != nil {
		return 0, fmt.Errorf("last seq of %s: %w", st.Name, err)
	}
	return last, nil
}

// StorageError returns err wrapped in ErrStorageFull when it is
// JetStream's answer that its storage is full (for the calls that do not
// go through Append: object store puts, KV writes); any other err is
// returned as it is.
func StorageError(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && storageFullCode(apiErr.ErrorCode) {
		return fmt.Errorf("%w: %v", ErrStorageFull, err)
	}
	return err
}

func checkID(id string) error {
	if !events.ValidID(id) {
		return fmt.Errorf("%w: %q cannot be an aggregate id", events.ErrInvalid, id)
	}
	return nil
}
