// Package bench holds benchmarks that a `make bench` program (or `go test
// -bench`) can run: each is an exported function taking a config and
// returning figures.
package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"provisioning/events"
	"provisioning/eventstore"
)

// eventsOutStore starts an embedded JetStream on a temporary directory
// for one benchmark run; stop removes everything.
func eventsOutStore(ctx context.Context) (store *eventstore.Store, stop func(), err error) {
	dir, err := os.MkdirTemp("", "bench-events-out-")
	if err != nil {
		return nil, nil, err
	}
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir, Sync: "1m"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	shutdown := func() {
		srv.Shutdown()
		srv.WaitForShutdown()
		os.RemoveAll(dir)
	}
	nc, err := eventstore.DialInProcess(srv, "bench")
	if err != nil {
		shutdown()
		return nil, nil, err
	}
	store, err = eventstore.NewStore(nc)
	if err == nil {
		err = store.Setup(ctx, eventstore.SetupConfig{Replicas: 1})
	}
	if err != nil {
		nc.Close()
		shutdown()
		return nil, nil, fmt.Errorf("bench store: %w", err)
	}
	return store, func() { nc.Close(); shutdown() }, nil
}

// appendProgress appends n TaskProgress events about one task: paced
// one by one to rate events/s when rate > 0, else in pipelined chunks as
// fast as the store takes them.
func appendProgress(ctx context.Context, store *eventstore.Store, n, rate int) error {
	id := events.NewID()
	chunk := 50
	if rate > 0 {
		chunk = 1
	}
	start := time.Now()
	for done := 0; done < n; {
		size := min(chunk, n-done)
		evs := make([]events.Envelope, size)
		for i := range evs {
			e, err := events.New(events.TaskProgress, id, events.TaskProgressData{TaskID: id, Attempt: 1, Progress: float64(done+i) * 100 / float64(n), Step: "benchmark"})
			if err != nil {
				return err
			}
			evs[i] = e
		}
		if _, errs := store.AppendAll(ctx, evs); errs != nil {
			for _, err := range errs {
				if err != nil {
					return err
				}
			}
		}
		done += size
		if rate > 0 {
			if ahead := time.Duration(float64(done)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				select {
				case <-time.After(ahead):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
	return nil
}

// percentiles returns p50 and p99 of ds, as Latencies.Percentile picks
// them.
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	return Latencies(ds).Percentile(50), Latencies(ds).Percentile(99)
}
