package eventstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
)

// recordingView is a view that folds instantly and remembers what it was
// asked to wait for.
type recordingView struct {
	waited []uint64
	err    error
}

func (v *recordingView) WaitFor(_ context.Context, seq uint64) error {
	v.waited = append(v.waited, seq)
	return v.err
}

// Every decision runs after the view has folded the head it is decided
// on: the first one's head, then, after losing a race, the winner's.
func TestDecideFoldedWaitsForTheHeadItDecidesOn(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	id := events.NewID()
	created, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id}), eventstore.ExpectLast(0))
	if err != nil {
		t.Fatal(err)
	}
	view := &recordingView{}
	var winner events.Envelope
	var decidedOn []uint64
	_, err = env.Store.DecideFolded(ctx, eventstore.FenceOf(events.AggTask, id), view, func(last events.Envelope, exists bool) (*events.Envelope, error) {
		decidedOn = append(decidedOn, last.Seq)
		if winner.Seq == 0 {
			if winner, err = env.Store.Append(ctx, taskEvent(t, events.TaskProgress, id, events.TaskProgressData{TaskID: id})); err != nil {
				t.Fatal(err)
			}
		}
		e := taskEvent(t, events.TaskProgress, id, events.TaskProgressData{TaskID: id})
		return &e, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{created.Seq, winner.Seq}
	if !slices.Equal(view.waited, want) || !slices.Equal(decidedOn, want) {
		t.Fatalf("waited for %v, decided on %v; want both %v", view.waited, decidedOn, want)
	}
}

// A view that cannot catch up ends the decision with its error; a new
// aggregate has no head to wait for.
func TestDecideFoldedViewBehind(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	id := events.NewID()
	behind := errors.New("behind")
	view := &recordingView{err: behind}
	fence := eventstore.FenceOf(events.AggTask, id)
	stored, err := env.Store.DecideFolded(ctx, fence, view, func(_ events.Envelope, exists bool) (*events.Envelope, error) {
		e := taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id})
		return &e, nil
	})
	if err != nil || stored.Seq == 0 || len(view.waited) != 0 {
		t.Fatalf("create: %+v, %v, waited %v", stored, err, view.waited)
	}
	_, err = env.Store.DecideFolded(ctx, fence, view, func(events.Envelope, bool) (*events.Envelope, error) {
		t.Fatal("decided on a view that is behind")
		return nil, nil
	})
	if !errors.Is(err, behind) {
		t.Fatalf("err = %v, want the view's", err)
	}
}
