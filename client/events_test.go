package client_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"provisioning/client"
	"provisioning/client/clienttest"
)

func TestSubscribeFiltersAndFrames(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t)
	orch.Token = "tok"
	got := make(chan map[string]string, 1)
	orch.WS(func(ctx context.Context, st *clienttest.Stream) error {
		got <- st.Query
		for i, status := range []string{"running", "completed"} {
			if err := st.Send(ctx, clienttest.Frame{EventType: "TaskStatusChanged", Seq: uint64(10 + i),
				Data: map[string]any{"task_id": "t1", "status": status}}); err != nil {
				return err
			}
		}
		<-ctx.Done()
		return nil
	})
	c := newClient(t, orch.URL, "", client.WithToken("tok"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, client.SubscribeOptions{Events: []string{"TaskStatusChanged", "TaskProgress"}, TaskID: "t1", Since: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	q := <-got
	if q["events"] != "TaskStatusChanged,TaskProgress" || q["task_id"] != "t1" || q["since"] != "7" || q["token"] != "" {
		t.Errorf("query = %v", q)
	}
	for i, want := range []string{"running", "completed"} {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var d client.TaskStatusData
		if err := ev.Decode(&d); err != nil || d.Status != want || ev.Seq != uint64(10+i) || ev.Timestamp.IsZero() || len(ev.Metadata) == 0 {
			t.Errorf("event %d = %+v (%+v, %v)", i, ev, d, err)
		}
		if want == "completed" && !client.Terminal(d.Status) {
			t.Error("lower-case completed is not terminal")
		}
	}
	if sub.Last() != 11 {
		t.Errorf("last = %d", sub.Last())
	}
}

func TestSubscribeResumesAfterADrop(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t)
	var conns atomic.Int32
	sinces := make(chan string, 4)
	orch.WS(func(ctx context.Context, st *clienttest.Stream) error {
		sinces <- st.Query["since"]
		from := uint64(1)
		if s, err := strconv.ParseUint(st.Query["since"], 10, 64); err == nil {
			from = s - 1 // replay one event twice, as a server may
		}
		n := conns.Add(1)
		for seq := from; seq < from+3; seq++ {
			if err := st.Send(ctx, clienttest.Frame{EventType: "TaskProgress", Seq: seq, Data: map[string]any{"progress": seq}}); err != nil {
				return err
			}
		}
		if n == 1 {
			return errors.New("going away") // the first connection drops
		}
		<-ctx.Done()
		return nil
	})
	c := newClient(t, orch.URL, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seqs []uint64
	for ev, err := range c.Events(ctx, client.SubscribeOptions{Resume: true}) {
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ev.Seq)
		if len(seqs) == 5 {
			break
		}
	}
	want := []uint64{1, 2, 3, 4, 5}
	for i := range want {
		if seqs[i] != want[i] {
			t.Fatalf("seqs = %v, want %v", seqs, want)
		}
	}
	if first, second := <-sinces, <-sinces; first != "" || second != "4" {
		t.Errorf("since = %q then %q, want none then 4", first, second)
	}
}

func TestSubscribeWithoutResumeEnds(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t)
	orch.WS(func(ctx context.Context, st *clienttest.Stream) error { return nil })
	c := newClient(t, orch.URL, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(ctx); err == nil {
		t.Error("Next after the server closed returned no error")
	}
}

func TestSubscribeRefused(t *testing.T) {
	t.Parallel()
	orch := clienttest.New(t) // no /ws: 404 in the envelope
	c := newClient(t, orch.URL, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, client.SubscribeOptions{})
	var apiErr *client.Error
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Message != "no route GET /ws" {
		t.Errorf("subscribe without /ws: %v", err)
	}
	orch.Token = "tok"
	orch.WS(func(ctx context.Context, st *clienttest.Stream) error { return nil })
	if _, err := c.Subscribe(ctx, client.SubscribeOptions{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("subscribe without a token: %v", err)
	}
}
