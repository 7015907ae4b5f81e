package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/hub"
)

func appendTasks(t *testing.T, env *eventstest.Env, n int) []string {
	t.Helper()
	ids, err := tryAppendTasks(env, n)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// tryAppendTasks appends n TaskCreated events; it may run in a goroutine
// of its own (which must not call t.Fatal).
func tryAppendTasks(env *eventstest.Env, n int) ([]string, error) {
	var ids []string
	for i := 0; i < n; i++ {
		id := events.NewID()
		e, err := events.New(events.TaskCreated, id, events.TaskCreatedData{TaskID: id})
		if err != nil {
			return ids, err
		}
		if _, err := env.Store.Append(context.Background(), e); err != nil {
			return ids, fmt.Errorf("append task %d: %w", i, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func startHub(t *testing.T, env *eventstest.Env, ring int) *hub.Hub {
	t.Helper()
	h := hub.New(env.Store, slog.New(slog.NewTextHandler(io.Discard, nil)), ring, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// collect replays then reads live events until it has n of them.
func collect(s *hub.Subscription, n int) ([]uint64, error) {
	var seqs []uint64
	if err := s.Replay(context.Background(), func(ev *hub.Event) error { seqs = append(seqs, ev.Seq); return nil }); err != nil {
		return seqs, err
	}
	timeout := time.After(20 * time.Second)
	for len(seqs) < n {
		select {
		case ev := <-s.Live():
			seqs = append(seqs, ev.Seq)
		case <-s.Done():
			return seqs, fmt.Errorf("subscription ended: %v", s.Err())
		case <-timeout:
			return seqs, fmt.Errorf("got %d of %d events", len(seqs), n)
		}
	}
	return seqs, nil
}

func mustCollect(t *testing.T, s *hub.Subscription, n int) []uint64 {
	t.Helper()
	seqs, err := collect(s, n)
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func contiguous(t *testing.T, seqs []uint64, from uint64) {
	t.Helper()
	for i, s := range seqs {
		if s != from+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d: a gap or a duplicate at %v", i, s, from+uint64(i), seqs[max(0, i-2):min(len(seqs), i+3)])
		}
	}
}

// Subscriptions made while events are being appended see every event
// from their since on exactly once, whether the past comes from the ring
// or from the stream.
func TestSinceReplaysThenGoesLiveWithoutGapOrDuplicate(t *testing.T) {
	for _, tc := range []struct {
		name string
		ring int
	}{{"from the ring", 10_000}, {"from the stream", 8}} {
		t.Run(tc.name, func(t *testing.T) {
			env := eventstest.Start(t)
			appendTasks(t, env, 20) // before the hub: only in the stream
			h := startHub(t, env, tc.ring)
			var wg sync.WaitGroup
			var appendErr error
			wg.Add(1)
			go func() { defer wg.Done(); _, appendErr = tryAppendTasks(env, 200) }()
			subs := make([]*hub.Subscription, 0, 10)
			for i := 0; i < 10; i++ {
				s, err := h.Subscribe(context.Background(), hub.Filter{}, uint64(5+i*7), 10_000)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				subs = append(subs, s)
				time.Sleep(time.Millisecond) // spread the subscriptions over the appends
			}
			wg.Wait()
			if appendErr != nil {
				t.Fatal(appendErr)
			}
			for i, s := range subs {
				from := uint64(5 + i*7)
				contiguous(t, mustCollect(t, s, int(220-from+1)), from)
			}
		})
	}
}

func TestFiltersAndFrames(t *testing.T) {
	env := eventstest.Start(t)
	h := startHub(t, env, 100)
	s, err := h.Subscribe(context.Background(), hub.Filter{Types: map[events.Type]bool{events.TaskStatusChanged: true}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := appendTasks(t, env, 2)
	e, _ := events.New(events.TaskStatusChanged, ids[1], events.TaskStatusChangedData{TaskID: ids[1], Status: events.StatusRolledBack, BatchID: "B1"})
	if _, err := env.Store.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-s.Live():
		var f struct {
			EventType string            `json:"event_type"`
			Timestamp time.Time         `json:"timestamp"`
			Data      map[string]any    `json:"data"`
			Metadata  map[string]string `json:"metadata"`
			Seq       uint64            `json:"seq"`
		}
		if err := json.Unmarshal(ev.Frame(), &f); err != nil {
			t.Fatal(err)
		}
		if f.EventType != "TaskStatusChanged" || f.Seq != 3 || f.Timestamp.IsZero() || f.Data["status"] != "rolled_back" ||
			f.Metadata["task_id"] != ids[1] || f.Metadata["batch_id"] != "B1" || f.Metadata["status"] != "rolled_back" {
			t.Fatalf("frame %s", ev.Frame())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	task := hub.Prepare(events.Envelope{Type: events.TaskCreated, Aggregate: events.AggTask, AggregateID: "x", Data: []byte(`{"batch_id":"c"}`)})
	if !(hub.Filter{TaskID: "x"}).Match(task) || (hub.Filter{BatchID: "b"}).Match(task) || !(hub.Filter{BatchID: "c"}).Match(task) {
		t.Fatal("id filters")
	}
}

func TestASlowSubscriberIsDroppedAndOthersGetEverything(t *testing.T) {
	env := eventstest.Start(t)
	h := startHub(t, env, 10)
	slow, _ := h.Subscribe(context.Background(), hub.Filter{}, 0, 8)
	fast, _ := h.Subscribe(context.Background(), hub.Filter{}, 0, 100)
	defer fast.Close()
	appendTasks(t, env, 50)
	contiguous(t, mustCollect(t, fast, 50), 1)
	select {
	case <-slow.Done():
		if slow.Err() != hub.ErrTooSlow {
			t.Fatalf("slow subscriber ended with %v", slow.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slow subscriber was not dropped")
	}
}
