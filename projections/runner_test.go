package projections_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/projections"
)

// counting counts the events a projection really applied.
type counting struct {
	*projections.Tasks
	applied int
}

func (c *counting) Apply(e events.Envelope) error { c.applied++; return c.Tasks.Apply(e) }

func runUntilCaughtUp(t *testing.T, env *eventstest.Env, p projections.Projection, snaps *projections.Snapshots) {
	t.Helper()
	r := projections.NewRunner(env.Store, events.EventsStream, snaps, slog.New(slog.NewTextHandler(io.Discard, nil)), p)
	r.SnapshotEvery = 5
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := r.WaitForLatest(wctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Ready():
	case <-wctx.Done():
		t.Fatal("runner never reported ready")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunnerRestoresSnapshotAndRebuildsBadOnes(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	evs := loadEvents(t, "testdata/tasks.events.jsonl")
	for _, e := range evs {
		e.Seq = 0
		if _, err := env.Store.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := projections.OpenSnapshots(ctx, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	first := &counting{Tasks: projections.NewTasks()}
	runUntilCaughtUp(t, env, first, snaps)
	want := render(t, first.Tasks)
	if first.applied != len(evs) {
		t.Fatalf("first run applied %d events, want %d", first.applied, len(evs))
	}

	restored := &counting{Tasks: projections.NewTasks()}
	runUntilCaughtUp(t, env, restored, snaps)
	if restored.applied != 0 {
		t.Fatalf("a restart with a current snapshot re-applied %d events", restored.applied)
	}
	if got := render(t, restored.Tasks); !bytes.Equal(got, want) {
		t.Fatalf("restored view differs:\n%s", got)
	}

	obs, err := env.Store.ObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: projections.ObjectStoreName})
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, "tasks")
	if err != nil {
		t.Fatal(err)
	}
	corrupt := jetstream.ObjectMeta{Name: "tasks", Metadata: info.Metadata}
	if _, err := obs.Put(ctx, corrupt, strings.NewReader("this is not the snapshot")); err != nil {
		t.Fatal(err)
	}
	rebuilt := &counting{Tasks: projections.NewTasks()}
	runUntilCaughtUp(t, env, rebuilt, snaps)
	if rebuilt.applied != len(evs) {
		t.Fatalf("a corrupted snapshot was trusted: applied %d of %d events", rebuilt.applied, len(evs))
	}
	if got := render(t, rebuilt.Tasks); !bytes.Equal(got, want) {
		t.Fatalf("rebuilt view differs:\n%s", got)
	}

	if err := obs.Delete(ctx, "tasks"); err != nil {
		t.Fatal(err)
	}
	missing := &counting{Tasks: projections.NewTasks()}
	runUntilCaughtUp(t, env, missing, snaps)
	if missing.applied != len(evs) || !bytes.Equal(render(t, missing.Tasks), want) {
		t.Fatalf("missing snapshot: applied %d, view equal %v", missing.applied, bytes.Equal(render(t, missing.Tasks), want))
	}
}
