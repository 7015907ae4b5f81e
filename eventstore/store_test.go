package eventstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
)

func taskEvent(t *testing.T, typ events.Type, id string, data any) events.Envelope {
	t.Helper()
	e, err := events.New(typ, id, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAppendAndLast(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	id := events.NewID()
	created, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id, Name: "x"}), eventstore.ExpectLast(0))
	if err != nil {
		t.Fatal(err)
	}
	if created.Seq == 0 || created.ID == "" || created.Time.IsZero() || created.SchemaVersion != events.SchemaVersion {
		t.Fatalf("append did not fill the envelope: %+v", created)
	}
	if got := created.Subject(); got != "prov.events.task."+id+".TaskCreated" {
		t.Fatalf("subject = %s", got)
	}
	last, err := env.Store.Last(ctx, events.AggTask, id)
	if err != nil {
		t.Fatal(err)
	}
	if last.ID != created.ID || last.Seq != created.Seq {
		t.Fatalf("last = %+v, want %+v", last, created)
	}
	var data events.TaskCreatedData
	if err := last.Decode(&data); err != nil || data.Name != "x" {
		t.Fatalf("decode: %v %+v", err, data)
	}
	if _, err := env.Store.Last(ctx, events.AggTask, "nope"); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("last of unknown aggregate: %v", err)
	}
}

func TestStaleWriterConflicts(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	id := events.NewID()
	first, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id}), eventstore.ExpectLast(0))
	if err != nil {
		t.Fatal(err)
	}
	// Another aggregate's events do not move this one's sequence.
	other := events.NewID()
	if _, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, other, events.TaskCreatedData{TaskID: other})); err != nil {
		t.Fatal(err)
	}
	running := taskEvent(t, events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: events.StatusRunning, Attempt: 1})
	if _, err := env.Store.Append(ctx, running, eventstore.ExpectLast(first.Seq)); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	stale := taskEvent(t, events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: events.StatusRunning, Attempt: 2})
	if _, err := env.Store.Append(ctx, stale, eventstore.ExpectLast(first.Seq)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("stale writer: err = %v, want ErrConflict", err)
	}
	if _, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id}), eventstore.ExpectLast(0)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("second create: err = %v, want ErrConflict", err)
	}
}

func TestIdempotencyKeyReturnsFirstEvent(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	a, b := events.NewID(), events.NewID()
	first, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, a, events.TaskCreatedData{TaskID: a}), eventstore.WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, b, events.TaskCreatedData{TaskID: b}), eventstore.WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if again.AggregateID != a || again.Seq != first.Seq {
		t.Fatalf("duplicate append returned %s@%d, want the first %s@%d", again.AggregateID, again.Seq, a, first.Seq)
	}
	last, _ := env.Store.LastSeq(ctx, events.EventsStream)
	if last != first.Seq {
		t.Fatalf("stream holds %d events, want 1", last)
	}
}

func TestTooLargeEventIsRefused(t *testing.T) {
	env := eventstest.Start(t)
	id := events.NewID()
	e := taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id, Name: strings.Repeat("x", 9<<20)})
	if _, err := env.Store.Append(context.Background(), e); !errors.Is(err, eventstore.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestInvalidAggregateID(t *testing.T) {
	env := eventstest.Start(t)
	for _, id := range []string{"", "a.b", "a*", "a>", "a b", strings.Repeat("x", 129)} {
		e := taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id})
		if _, err := env.Store.Append(context.Background(), e); !errors.Is(err, events.ErrInvalid) {
			t.Errorf("id %q: err = %v, want ErrInvalid", id, err)
		}
	}
}

func TestReadStopsAtEndAndFollowContinues(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		id := events.NewID()
		ids = append(ids, id)
		if _, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id})); err != nil {
			t.Fatal(err)
		}
	}
	var seen []uint64
	err := env.Store.Read(ctx, events.EventsStream, eventstore.Position{From: 2}, func(e events.Envelope, err error) error {
		if err != nil {
			return err
		}
		seen = append(seen, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 4 || seen[0] != 2 || seen[3] != 5 {
		t.Fatalf("read seqs %v, want 2..5", seen)
	}
	// A filter that matches nothing returns at once.
	err = env.Store.Read(ctx, events.EventsStream, eventstore.Position{Subjects: []string{events.TypeSubject(events.TaskProgress)}}, func(events.Envelope, error) error {
		t.Fatal("no event should match")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got := make(chan uint64, 10)
	done := make(chan error, 1)
	go func() {
		done <- env.Store.Follow(fctx, events.EventsStream, eventstore.Position{From: 5}, func(e events.Envelope, err error) error {
			got <- e.Seq
			return nil
		})
	}()
	next := func() uint64 {
		t.Helper()
		select {
		case s := <-got:
			return s
		case err := <-done:
			t.Fatalf("follow ended before delivering: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("follow delivered nothing in 10s")
		}
		return 0
	}
	if s := next(); s != 5 {
		t.Fatalf("follow started at %d, want 5", s)
	}
	id := events.NewID()
	if _, err := env.Store.Append(ctx, taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id})); err != nil {
		t.Fatal(err)
	}
	if s := next(); s != 6 {
		t.Fatalf("follow got %d, want the live event 6", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow after cancel: %v", err)
	}
}

// TestFullStoreIsErrStorageFull fills a server whose JetStream storage is
// capped: the append that does not fit fails with ErrStorageFull, and
// every append acknowledged before it is still there.
func TestFullStoreIsErrStorageFull(t *testing.T) {
	t.Parallel()
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: t.TempDir(), Sync: "1m", MaxStore: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := eventstore.DialInProcess(srv, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	store, err := eventstore.NewStore(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Setup(ctx, eventstore.SetupConfig{}); err != nil {
		t.Fatal(err)
	}
	var acked []events.Envelope
	for i := 0; ; i++ {
		id := events.NewID()
		e := taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id, Name: strings.Repeat("x", 1000)})
		stored, err := store.Append(ctx, e)
		if errors.Is(err, eventstore.ErrStorageFull) {
			break
		}
		if err != nil {
			t.Fatalf("append %d: %v, want ErrStorageFull eventually", i, err)
		}
		acked = append(acked, stored)
		if i > 10_000 {
			t.Fatal("the store never filled up")
		}
	}
	for _, e := range acked {
		got, err := store.Get(ctx, events.EventsStream, e.Seq)
		if err != nil || got.ID != e.ID {
			t.Fatalf("acknowledged event at seq %d: %v (%s)", e.Seq, err, got.ID)
		}
	}
}
