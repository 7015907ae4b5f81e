package eventstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
)

// Two deciders race on one aggregate: both decisions are stored, each
// made from the event the other appended, never from a stale read.
func TestDecideRetriesFromTheWinnersEvent(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	id := events.NewID()
	if _, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id}), eventstore.ExpectLast(0)); err != nil {
		t.Fatal(err)
	}
	const writers = 6
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			_, err := env.Store.Decide(ctx, eventstore.FenceOf(events.AggTask, id), func(last events.Envelope, exists bool) (*events.Envelope, error) {
				if !exists {
					return nil, errors.New("the task vanished")
				}
				e, err := events.New(events.TaskProgress, id, events.TaskProgressData{TaskID: id, Attempt: w, Progress: float64(last.Seq)})
				return &e, err
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("decide: %v", err)
		}
	}
	// Every progress event records the sequence it was decided from: a
	// chain, each link the one before it.
	var prev uint64
	err := env.Store.Read(ctx, events.EventsStream, eventstore.Position{From: 1, Subjects: []string{events.AggregateSubject(events.AggTask, id)}},
		func(e events.Envelope, err error) error {
			if err != nil {
				return err
			}
			if e.Type == events.TaskProgress {
				var d events.TaskProgressData
				if err := e.Decode(&d); err != nil {
					return err
				}
				if uint64(d.Progress) != prev {
					t.Errorf("event %d decided from seq %v, want %d", e.Seq, d.Progress, prev)
				}
			}
			prev = e.Seq
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDecideNothingToDoAndRefusal(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	id := events.NewID()
	fence := eventstore.FenceOf(events.AggTask, id)
	got, err := env.Store.Decide(ctx, fence, func(events.Envelope, bool) (*events.Envelope, error) { return nil, nil })
	if err != nil || got.Seq != 0 {
		t.Fatalf("nothing to do: %+v, %v", got, err)
	}
	refused := errors.New("refused")
	if _, err := env.Store.Decide(ctx, fence, func(events.Envelope, bool) (*events.Envelope, error) { return nil, refused }); !errors.Is(err, refused) {
		t.Fatalf("refusal: %v, want the decision's own error", err)
	}
	created, err := env.Store.Decide(ctx, fence, func(_ events.Envelope, exists bool) (*events.Envelope, error) {
		if exists {
			t.Fatal("a new aggregate exists")
		}
		e := taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id})
		return &e, nil
	})
	if err != nil || created.Seq == 0 {
		t.Fatalf("create: %+v, %v", created, err)
	}
}

// A fence on a type subject holds against events of other aggregates.
func TestDecideOnSubject(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	fence := eventstore.Fence{Subject: events.TypeSubject(events.TaskCreated)}
	calls := 0
	_, err := env.Store.Decide(ctx, fence, func(last events.Envelope, exists bool) (*events.Envelope, error) {
		calls++
		if calls == 1 {
			// Someone else creates a task between the read and the append.
			other := events.NewID()
			if _, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, other, events.TaskCreatedData{TaskID: other})); err != nil {
				t.Fatal(err)
			}
		}
		id := events.NewID()
		e := taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id})
		return &e, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("decided %d times, want 2 (the first lost to the other task)", calls)
	}
}

// A decider that always loses gives up with ErrConflict after a bounded
// number of tries.
func TestDecideGivesUp(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	id := events.NewID()
	calls := 0
	_, err := env.Store.Decide(ctx, eventstore.FenceOf(events.AggTask, id), func(events.Envelope, bool) (*events.Envelope, error) {
		calls++
		// Move the aggregate on every time, so the decision is always stale.
		if _, err := env.Store.Append(ctx, taskEvent(t, events.TaskProgress, id, events.TaskProgressData{TaskID: id})); err != nil {
			t.Fatal(err)
		}
		e := taskEvent(t, events.TaskProgress, id, events.TaskProgressData{TaskID: id})
		return &e, nil
	})
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if calls != eventstore.DecideAttempts {
		t.Fatalf("decided %d times, want %d", calls, eventstore.DecideAttempts)
	}
}
