package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/fanout"
)

func ev(seq uint64, t events.Type, task string) events.Envelope {
	data, _ := json.Marshal(map[string]string{"task_id": task, "status": "Completed"})
	return events.Envelope{ID: "e", Type: t, Aggregate: events.AggTask, AggregateID: task, Time: time.Unix(0, 0), Data: data, Seq: seq}
}

func seqs(es []*fanout.Event) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func next(t *testing.T, s *fanout.Subscription, max int) ([]*fanout.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.Next(ctx, nil, max)
}

func TestHub(t *testing.T) {
	t.Parallel()
	h := fanout.NewHub(nil, 8)
	h.Start(10) // the stream held 10 events when the hub started
	live, err := h.Subscribe(0, fanout.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	onlyB, _ := h.Subscribe(0, fanout.Filter{TaskID: "b", Types: map[events.Type]bool{events.TaskStatusChanged: true}})
	for seq := uint64(11); seq <= 16; seq++ {
		task := "a"
		if seq%2 == 0 {
			task = "b"
		}
		h.Publish(ev(seq, events.TaskStatusChanged, task), nil)
	}
	h.Publish(events.Envelope{Type: events.WebhookRegistered, Aggregate: events.AggWebhook, AggregateID: "w", Seq: 17}, nil) // never streamed
	h.Publish(ev(18, events.TaskProgress, "b"), nil)

	got, err := next(t, live, 100)
	if err != nil || len(got) != 7 || got[0].Seq != 11 || got[6].Seq != 18 {
		t.Fatalf("live: %v %v", seqs(got), err)
	}
	got, _ = next(t, onlyB, 100)
	if s := seqs(got); len(s) != 3 || s[0] != 12 || s[2] != 16 {
		t.Fatalf("filtered: %v", s)
	}
	var f fanout.Frame
	if err := json.Unmarshal(got[0].Frame, &f); err != nil || f.Metadata.Status != "completed" || f.Seq != 12 || f.Metadata.TaskID != "b" {
		t.Fatalf("frame %s: %v", got[0].Frame, err)
	}

	if _, err := h.Subscribe(5, fanout.Filter{}); !errors.Is(err, fanout.ErrTooOld) {
		t.Errorf("since before the hub started: %v", err)
	}
	s, err := h.Subscribe(15, fanout.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := next(t, s, 100); len(got) != 3 || got[0].Seq != 15 {
		t.Errorf("since=15 in the window: %v", seqs(got))
	}
	ahead, _ := h.Subscribe(21, fanout.Filter{})
	h.Publish(ev(19, events.TaskProgress, "a"), nil)
	h.Publish(ev(21, events.TaskProgress, "a"), nil)
	if got, _ := next(t, ahead, 100); len(got) != 1 || got[0].Seq != 21 {
		t.Errorf("since ahead of the hub yields from there: %v", seqs(got))
	}

	// The live cursor is at 18; ten more events overrun its window.
	for seq := uint64(22); seq < 32; seq++ {
		h.Publish(ev(seq, events.TaskProgress, "a"), nil)
	}
	if _, err := next(t, live, 100); !errors.Is(err, fanout.ErrTooSlow) {
		t.Errorf("a cursor a window behind: %v", err)
	}
	if _, err := h.Subscribe(20, fanout.Filter{}); !errors.Is(err, fanout.ErrTooOld) {
		t.Errorf("since evicted: %v", err)
	}
}
