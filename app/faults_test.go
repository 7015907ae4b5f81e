package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"provisioning/app"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/handlers"
)

// noRateLimits turns the limits off: their counters live in an in-memory
// stream that a restarted NATS server no longer has (what happens then is
// the rate limiter's business, not what these tests look at).
var noRateLimits = handlers.RateLimits{}

// natsOn starts a NATS server on dir and addr (host:port, port 0 for a
// free one) and stops it when the test ends unless stopped before.
func natsOn(t *testing.T, dir, addr string, maxStore int64) *server.Server {
	t.Helper()
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir, Listen: addr, Sync: "1m", MaxStore: maxStore, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

func hostPort(t *testing.T, srv *server.Server) string {
	t.Helper()
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestFullStore fills the event store of an instance (a JetStream capped
// by max_store): submissions then fail with 507 and a clear message,
// nothing acknowledged is lost, and once the store has room again (the
// server restarted with a larger cap) submissions succeed again.
func TestFullStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := natsOn(t, dir, "127.0.0.1:0", 2<<20)
	addr := hostPort(t, first)
	cfg := testConfig(t)
	cfg.NATSURL = "nats://" + addr
	cfg.Workers = 0
	cfg.RateLimits = noRateLimits
	in := startInstance(t, cfg)
	c := adminClient(t, in)

	var acked []string
	var full envelope
	unknown := 0
	for i := 0; ; i++ {
		status, env, _ := c.do(http.MethodPost, "/workflows/servers/create", map[string]any{"infra": fmt.Sprintf("fill-%d", i)})
		if status == http.StatusInsufficientStorage {
			full = env
			break
		}
		if status == http.StatusServiceUnavailable && strings.Contains(env.Error, "audit record could not be written") {
			// The task fitted, its audit record did not: the client was
			// told the outcome is unknown, not that it succeeded.
			unknown++
			continue
		}
		if status != http.StatusOK {
			t.Fatalf("submission %d: %d %s", i, status, env.Error)
		}
		var id string
		_ = json.Unmarshal(env.Data, &id)
		acked = append(acked, id)
		if i > 20000 {
			t.Fatal("the store never filled up")
		}
	}
	if full.Success || full.Error != "the event store is out of storage; nothing was recorded" {
		t.Fatalf("full store answered %+v", full)
	}
	for _, id := range acked {
		if status, env, _ := c.do(http.MethodGet, "/tasks/"+id, nil); status != http.StatusOK {
			t.Fatalf("acknowledged task %s: %d %s", id, status, env.Error)
		}
	}
	t.Logf("%d submissions acknowledged before the store filled up, %d answered with an unknown outcome", len(acked), unknown)

	first.Shutdown()
	first.WaitForShutdown()
	natsOn(t, dir, addr, 64<<20)
	var again string
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, env, _ := c.do(http.MethodPost, "/workflows/servers/create", map[string]any{"infra": "after-room"})
		if status == http.StatusOK {
			_ = json.Unmarshal(env.Data, &again)
			break
		}
		if status < 500 || time.Now().After(deadline) {
			t.Fatalf("after the store got room: %d %s", status, env.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	status, _, header := c.do(http.MethodGet, "/tasks?limit=1", nil)
	if total, _ := strconv.Atoi(header.Get("X-Total-Count")); status != 200 || total < len(acked)+1 || total > len(acked)+1+unknown {
		t.Fatalf("tasks after recovery: %d, total %d, want %d to %d", status, total, len(acked)+1, len(acked)+1+unknown)
	}
	closeNow(t, in) // while its NATS server still runs
}

// TestNATSOutage takes the NATS server of an instance (--nats-url) away
// for a while under a stream of submissions: each answer is a success or
// a clean error (an envelope, 5xx), every acknowledged submission is
// there afterwards, and the instance serves again once NATS is back.
func TestNATSOutage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := natsOn(t, dir, "127.0.0.1:0", 0)
	addr := hostPort(t, first)
	cfg := testConfig(t)
	cfg.NATSURL = "nats://" + addr
	cfg.SimSpeed = 0
	cfg.RateLimits = noRateLimits
	in := startInstance(t, cfg)
	c := adminClient(t, in)

	var mu sync.Mutex
	var acked []string
	failed := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				status, env, _ := c.do(http.MethodPost, "/workflows/servers/create", map[string]any{"infra": fmt.Sprintf("w%d-%d", w, i)})
				mu.Lock()
				if status == http.StatusOK {
					var id string
					_ = json.Unmarshal(env.Data, &id)
					acked = append(acked, id)
				} else {
					failed[status]++
					if status < 500 || env.Success || env.Error == "" {
						t.Errorf("during the outage: %d %+v", status, env)
					}
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	eventstest.Eventually(t, 30*time.Second, func() bool { return count() >= 20 }, "no submission succeeded before the outage")
	first.Shutdown()
	first.WaitForShutdown()
	time.Sleep(2 * time.Second) // the outage itself: this is what is being tested, not a wait for a condition
	natsOn(t, dir, addr, 0)
	before := count()
	eventstest.Eventually(t, 60*time.Second, func() bool { return count() >= before+20 }, "submissions did not succeed again after NATS came back")
	close(stop)
	wg.Wait()
	t.Logf("%d acknowledged, failures by status %v", len(acked), failed)
	// Every acknowledged task is there and ends. (A task whose process
	// could not report while NATS was away may end Failed with the
	// reason; that is not a loss.)
	for _, id := range acked {
		if task := c.waitTask(id, 60*time.Second); task.Status != "Completed" {
			var full struct {
				Error *string `json:"error"`
			}
			c.ok(http.MethodGet, "/tasks/"+id, nil, &full)
			if full.Error == nil || *full.Error == "" {
				t.Fatalf("acknowledged task %s ended %s without a reason", id, task.Status)
			}
			t.Logf("task %s ended %s: %s", id, task.Status, *full.Error)
		}
	}
	closeNow(t, in)
}

// closeNow closes an instance before the test's cleanups stop its NATS
// server (closing without NATS waits out the last snapshot's timeout).
func closeNow(t *testing.T, in *app.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
