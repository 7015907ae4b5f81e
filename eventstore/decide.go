package eventstore

import (
	"context"
	"errors"
	"fmt"

	"provisioning/events"
)

// DecideAttempts bounds how often Decide reads and decides again after
// losing a race: past it the aggregate is changing faster than a decision
// can be made, and the caller is better told so (ErrConflict) than kept
// waiting.
const DecideAttempts = 8

// Decision builds the next event from the last one stored on the fenced
// subject; exists is false when there is none yet (last is then the zero
// Envelope). A nil event means there is nothing to append: Decide then
// returns the zero Envelope and no error. An error ends Decide and is
// returned as it is, so a decision can refuse with a domain error.
type Decision func(last events.Envelope, exists bool) (*events.Envelope, error)

// Fence names the subject a decision is fenced on: by default the
// aggregate's own subjects (Aggregate, ID); with Subject set, the last
// event on that subject (which may hold wildcards, e.g. every event of one
// type), for decisions made from the events of many aggregates.
type Fence struct {
	Aggregate events.Aggregate
	ID        string
	Subject   string
}

// FenceOf fences on one aggregate instance.
func FenceOf(agg events.Aggregate, id string) Fence { return Fence{Aggregate: agg, ID: id} }

// Decide is read, decide, append: it reads the last event on the fence,
// asks decide for the next event, and appends it expecting that event's
// sequence, so the decision holds only if nothing changed in between. When
// something did (ErrConflict) it reads and decides again, at most
// DecideAttempts times; then it returns an error that wraps ErrConflict.
// opts apply to the append (an idempotency key, say). The stored event is
// returned with its Seq.
func (s *Store) Decide(ctx context.Context, f Fence, decide Decision, opts ...AppendOption) (events.Envelope, error) {
	for range DecideAttempts {
		last, exists, err := s.lastOn(ctx, f)
		if err != nil {
			return events.Envelope{}, err
		}
		next, err := decide(last, exists)
		if err != nil || next == nil {
			return events.Envelope{}, err
		}
		expect := ExpectLast(last.Seq)
		if f.Subject != "" {
			expect = ExpectLastOn(f.Subject, last.Seq)
		}
		stored, err := s.Append(ctx, *next, append(opts, expect)...)
		if !errors.Is(err, ErrConflict) {
			return stored, err
		}
		if ctx.Err() != nil {
			return events.Envelope{}, ctx.Err()
		}
	}
	return events.Envelope{}, fmt.Errorf("%w: %s kept changing over %d decisions; retry", ErrConflict, f, DecideAttempts)
}

func (f Fence) String() string {
	if f.Subject != "" {
		return f.Subject
	}
	return string(f.Aggregate) + " " + f.ID
}

// lastOn reads the last event on the fence; a fence with no event yet is
// not an error.
func (s *Store) lastOn(ctx context.Context, f Fence) (events.Envelope, bool, error) {
	var last events.Envelope
	var err error
	if f.Subject != "" {
		last, err = s.LastOn(ctx, f.Subject)
	} else {
		last, err = s.Last(ctx, f.Aggregate, f.ID)
	}
	if errors.Is(err, ErrNotFound) {
		return events.Envelope{}, false, nil
	}
	if err != nil {
		return events.Envelope{}, false, err
	}
	return last, true, nil
}
