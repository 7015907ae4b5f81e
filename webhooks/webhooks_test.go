package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/projections"
	"provisioning/secrets"
	"provisioning/webhooks"
	"provisioning/workflow"
)

// instance is a webhook service with its view, on one event store.
type instance struct {
	svc    *webhooks.Service
	reg    *webhooks.Registry
	view   *projections.Runner
	cancel context.CancelFunc
	done   chan struct{}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ring seals the secrets of these tests' endpoints.
var ring = func() *secrets.Keyring {
	r, err := secrets.NewKeyring()
	if err != nil {
		panic(err)
	}
	return r
}()

// testConfig delivers to loopback, fast.
func testConfig() webhooks.Config {
	return webhooks.Config{
		AllowPrivateTargets: true,
		Timeout:             2 * time.Second,
		RetrySchedule:       []time.Duration{50 * time.Millisecond},
		MaxAttempts:         5,
	}
}

// start runs a service until the test ends (or stop is called).
func start(t *testing.T, store *eventstore.Store, cfg webhooks.Config) *instance {
	t.Helper()
	reg := webhooks.NewRegistry()
	view := projections.NewRunner(store, events.EventsStream, nil, quiet(), reg)
	logView := projections.NewRunner(store, events.DeliveriesStream, nil, quiet(), reg.DeliveryLog())
	svc, err := webhooks.New(store, ring, reg, webhooks.Views{Events: view, Deliveries: logView}, cfg, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	in := &instance{svc: svc, reg: reg, view: view, cancel: cancel, done: make(chan struct{})}
	go func() { _ = view.Run(ctx) }()
	go func() { _ = logView.Run(ctx) }()
	go func() {
		defer close(in.done)
		if err := svc.Run(ctx); err != nil {
			t.Errorf("webhooks run: %v", err)
		}
	}()
	t.Cleanup(in.stop)
	return in
}

func (in *instance) stop() {
	in.cancel()
	<-in.done
}

// receiver is a local HTTP endpoint that records what it gets and
// answers with the next status of its script (then 200).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	script []int
}

type delivery struct {
	path   string
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, script ...int) *receiver {
	rc := &receiver{script: script}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{path: r.URL.Path, header: r.Header.Clone(), body: body})
		status := http.StatusOK
		if len(rc.script) > 0 {
			status, rc.script = rc.script[0], rc.script[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte("receiver says hello"))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func (rc *receiver) count() int { return len(rc.deliveries()) }

func register(t *testing.T, in *instance, url string, patterns ...string) webhooks.Created {
	t.Helper()
	c, err := in.svc.Create(context.Background(), webhooks.Caller{Actor: "test"}, webhooks.Request{URL: url, Events: patterns})
	if err != nil {
		t.Fatalf("register %s: %v", url, err)
	}
	return c
}

// completeTask appends a task's creation and completion; it returns the
// id.
func completeTask(t *testing.T, store *eventstore.Store) string {
	t.Helper()
	ctx := context.Background()
	id := events.NewID()
	spec := events.TaskSpec{Workflow: "servers", Operation: "create", Infra: "prod"}
	created, err := events.New(events.TaskCreated, id, workflow.TaskCreated(id, spec, "provisioning", 60))
	if err != nil {
		t.Fatal(err)
	}
	first, err := store.Append(ctx, created, eventstore.ExpectLast(0))
	if err != nil {
		t.Fatal(err)
	}
	done, _ := events.New(events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: events.StatusCompleted, Output: "3 servers created"})
	if _, err := store.Append(ctx, done, eventstore.ExpectLast(first.Seq)); err != nil {
		t.Fatal(err)
	}
	return id
}

// The signing secret is stored sealed: nothing in the stream shows it, a
// repeated registration answers with it, and deliveries are signed with
// it. An endpoint registered by an older version, its secret in the
// clear, is still delivered to and signed for.
func TestSecretsAreSealedInTheStream(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	in := start(t, env.Store, testConfig())
	rc := newReceiver(t)
	const secret = "a-webhook-secret-nobody-may-read"
	key := eventstore.WithIdempotencyKey("register-once")
	created, err := in.svc.Create(context.Background(), webhooks.Caller{}, webhooks.Request{URL: rc.URL + "/hook", Events: []string{"task.completed"}, Secret: secret}, key)
	if err != nil || created.Secret != secret {
		t.Fatalf("register: %+v %v", created, err)
	}
	again, err := in.svc.Create(context.Background(), webhooks.Caller{}, webhooks.Request{URL: rc.URL + "/hook", Events: []string{"task.completed"}, Secret: secret}, key)
	if err != nil || again.ID != created.ID || again.Secret != secret {
		t.Fatalf("a repeated registration: %+v %v", again, err)
	}
	legacy, _ := events.New(events.WebhookRegistered, "legacy", events.WebhookRegisteredData{WebhookID: "legacy",
		URL: rc.URL + "/legacy", Events: []string{"task.completed"}, Secret: "a-plaintext-secret-of-old", Source: "api"})
	if _, err := env.Store.Append(context.Background(), legacy); err != nil {
		t.Fatal(err)
	}
	completeTask(t, env.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() == 2 }, "both endpoints got the delivery")
	for _, d := range rc.deliveries() {
		want := secret
		if strings.HasSuffix(d.path, "/legacy") {
			want = "a-plaintext-secret-of-old"
		}
		if err := webhooks.Verify(want, d.header, d.body); err != nil {
			t.Fatalf("delivery to %s: %v", d.path, err)
		}
	}
	err = env.Store.Read(context.Background(), events.EventsStream, eventstore.Position{}, func(e events.Envelope, err error) error {
		if bytes.Contains(e.Data, []byte(secret)) {
			t.Errorf("event %d (%s) shows the secret: %s", e.Seq, e.Type, e.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeliverySignedAndVerifiable(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	in := start(t, env.Store, testConfig())
	rc := newReceiver(t)
	ep := register(t, in, rc.URL+"/hook", "task.completed")
	if ep.Secret == "" || len(ep.Secret) < 32 {
		t.Fatalf("generated secret %q", ep.Secret)
	}
	taskID := completeTask(t, env.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() == 1 }, "one delivery (task.created is not subscribed)")
	d := rc.deliveries()[0]

	if err := webhooks.Verify(ep.Secret, d.header, d.body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := webhooks.Verify("another-secret", d.header, d.body); !errors.Is(err, webhooks.ErrSignature) {
		t.Fatalf("Verify with a wrong secret = %v, want ErrSignature", err)
	}
	tampered := bytes.Replace(d.body, []byte("completed"), []byte("failed!!!"), 1)
	if err := webhooks.Verify(ep.Secret, d.header, tampered); !errors.Is(err, webhooks.ErrSignature) {
		t.Fatalf("Verify of a tampered body = %v", err)
	}

	// The same checks, computed independently of the package.
	id, ts := d.header.Get("webhook-id"), d.header.Get("webhook-timestamp")
	m := hmac.New(sha256.New, []byte(ep.Secret))
	m.Write([]byte(id + "." + ts + "." + string(d.body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); d.header.Get("webhook-signature") != want {
		t.Errorf("webhook-signature = %q, want %q", d.header.Get("webhook-signature"), want)
	}
	m = hmac.New(sha256.New, []byte(ep.Secret))
	m.Write(d.body)
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); d.header.Get("X-Provisioning-Signature") != want {
		t.Errorf("X-Provisioning-Signature = %q, want %q", d.header.Get("X-Provisioning-Signature"), want)
	}
	cut := bytes.LastIndex(d.body, []byte(`,"signature":"`))
	unsigned := append(append([]byte{}, d.body[:cut]...), '}')
	m = hmac.New(sha256.New, []byte(ep.Secret))
	m.Write(unsigned)

	var body struct {
		Event     string          `json:"event"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
		Signature string          `json:"signature"`
	}
	if err := json.Unmarshal(d.body, &body); err != nil {
		t.Fatalf("body %s: %v", d.body, err)
	}
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); body.Signature != want {
		t.Errorf("body signature = %q, want %q", body.Signature, want)
	}
	var data struct {
		TaskID string `json:"task_id"`
		Status string `json:"status"`
		Output string `json:"output"`
	}
	_ = json.Unmarshal(body.Data, &data)
	if body.Event != "task.completed" || data.TaskID != taskID || data.Status != "completed" || data.Output != "3 servers created" || body.Timestamp.IsZero() {
		t.Errorf("body = %s", d.body)
	}
	sec := d.header.Get("webhook-timestamp")
	if len(sec) < 10 || strings.ContainsAny(sec, ".-") {
		t.Errorf("webhook-timestamp %q is not unix seconds", sec)
	}
}

func TestFailingTwiceThenSucceedingTakesThreeAttemptsWithOneID(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	in := start(t, env.Store, testConfig())
	rc := newReceiver(t, 500, 503)
	ep := register(t, in, rc.URL, "task.created")
	completeTask(t, env.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() == 3 }, "three attempts")
	got := rc.deliveries()
	for i, d := range got {
		if d.header.Get("webhook-id") != got[0].header.Get("webhook-id") {
			t.Errorf("attempt %d has webhook-id %q, the first had %q", i+1, d.header.Get("webhook-id"), got[0].header.Get("webhook-id"))
		}
		if err := webhooks.Verify(ep.Secret, d.header, d.body); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	var log []webhooks.Delivery
	eventstest.Eventually(t, 5*time.Second, func() bool {
		log, _ = in.svc.Deliveries(ep.ID, "", 0, 10)
		return len(log) == 1 && log[0].Status == "delivered"
	}, "the delivery log shows the delivery as delivered")
	d := log[0]
	if d.ID != got[0].header.Get("webhook-id") || d.Attempt != 3 || len(d.Attempts) != 3 || *d.StatusCode != 200 {
		t.Fatalf("delivery = %+v", d)
	}
	if a := d.Attempts[0]; a.Outcome != "retrying" || *a.StatusCode != 500 || a.NextRetryAt == nil || a.Error == nil || !strings.Contains(*a.Error, "HTTP 500") {
		t.Errorf("first attempt = %+v", a)
	}
	settled(t, env.Store)
	if rc.count() != 3 {
		t.Errorf("receiver got %d requests, want 3", rc.count())
	}
}

func TestRestartMidRetryStillDelivers(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	cfg := testConfig()
	cfg.RetrySchedule = []time.Duration{time.Second}
	first := start(t, env.Store, cfg)
	rc := newReceiver(t, 500, 500)
	ep := register(t, first, rc.URL, "task.*")
	completeTask(t, env.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() == 2 }, "both first attempts failed")

	// The whole process goes: the service, the connection, the embedded
	// server. Its successor starts on the same data directory.
	first.stop()
	env.Conn.Close()
	env.Server.Shutdown()
	env.Server.WaitForShutdown()
	env2 := eventstest.Start(t, eventstest.WithDir(env.Dir))
	second := start(t, env2.Store, cfg)

	var log []webhooks.Delivery
	// A retry whose nak did not reach the server before it stopped comes
	// back after the consumer's ack wait (2 x 2s + 10s).
	eventstest.Eventually(t, 30*time.Second, func() bool {
		log, _ = second.svc.Deliveries(ep.ID, "delivered", 0, 10)
		return len(log) == 2
	}, "both events delivered after the restart")
	got := rc.deliveries()
	if len(got) != 4 {
		t.Fatalf("receiver got %d requests, want 2 failed then 2 delivered", len(got))
	}
	ids := map[string]int{}
	for _, d := range got {
		ids[d.header.Get("webhook-id")]++
	}
	for _, d := range log {
		if ids[d.ID] != 2 || d.Attempt != 2 {
			t.Errorf("delivery %s: %d requests, attempt %d; want the same webhook-id twice", d.ID, ids[d.ID], d.Attempt)
		}
	}
}

func TestDeadEndpointDoesNotDelayHealthyOne(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	cfg := testConfig()
	cfg.Timeout = 5 * time.Second
	cfg.Concurrency = 1
	in := start(t, env.Store, cfg)
	hang := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(dead.Close)
	t.Cleanup(func() { close(hang) })
	healthy := newReceiver(t)
	register(t, in, dead.URL, "*")
	register(t, in, healthy.URL, "*")
	for range 5 {
		completeTask(t, env.Store)
	}
	// Well within the dead endpoint's 5 s attempt timeout: the healthy
	// one never waits behind it.
	eventstest.Eventually(t, 3*time.Second, func() bool { return healthy.count() == 10 }, "the healthy endpoint gets all 10 events while the dead one hangs")
}

func TestPrivateTargets(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	cfg := testConfig()
	cfg.AllowPrivateTargets = false
	cfg.MaxAttempts = 5 // a refused target is a failure at once, not five
	in := start(t, env.Store, cfg)

	for _, url := range []string{"http://127.0.0.1:9/x", "http://[::1]/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://localhost:8080/", "http://localhost./",
		"http://127.1/x", "http://0x7f.1/x", "http://2130706433/x", "http://0177.0.0.1/x", "http://127.0.0.01/x", "https://017700000001/"} {
		_, err := in.svc.Create(context.Background(), webhooks.Caller{}, webhooks.Request{URL: url, Events: []string{"*"}})
		var v *workflow.ValidationError
		if !errors.As(err, &v) || v.Fields[0].Field != "url" {
			t.Errorf("register %s: %v, want a validation error on url", url, err)
		}
	}

	// A name that resolves to loopback passes registration; the dialer
	// refuses it after resolution, at connect time.
	rc := newReceiver(t)
	regEv, _ := events.New(events.WebhookRegistered, "rebind", events.WebhookRegisteredData{WebhookID: "rebind",
		URL: strings.Replace(rc.URL, "127.0.0.1", "localhost", 1), Events: []string{"*"}, Secret: "0123456789", Source: "api"})
	if _, err := env.Store.Append(context.Background(), regEv); err != nil {
		t.Fatal(err)
	}
	completeTask(t, env.Store)
	var log []webhooks.Delivery
	eventstest.Eventually(t, 10*time.Second, func() bool {
		log, _ = in.svc.Deliveries("rebind", "failed", 0, 10)
		return len(log) == 2
	}, "both deliveries failed")
	if msg := *log[0].Error; !strings.Contains(msg, "not public") {
		t.Errorf("error = %q", msg)
	}
	for _, d := range log {
		if d.Attempt != 1 || len(d.Attempts) != 1 {
			t.Errorf("a refused target was tried %d times: %+v", d.Attempt, d.Attempts)
		}
	}
	if rc.count() != 0 {
		t.Fatalf("the private receiver got %d requests", rc.count())
	}

	// Allowed by configuration, the same target is reached.
	other := eventstest.Start(t)
	allowed := start(t, other.Store, testConfig())
	register(t, allowed, rc.URL, "*")
	completeTask(t, other.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() == 2 }, "delivered when allowed")
}

func TestManualRetryAfterGivingUp(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	cfg := testConfig()
	cfg.MaxAttempts = 2
	in := start(t, env.Store, cfg)
	rc := newReceiver(t, 500, 500)
	ep := register(t, in, rc.URL, "task.completed")
	completeTask(t, env.Store)
	var failed []webhooks.Delivery
	eventstest.Eventually(t, 10*time.Second, func() bool {
		failed, _ = in.svc.Deliveries(ep.ID, "failed", 0, 10)
		return len(failed) == 1
	}, "the delivery is kept as failed after 2 attempts")
	if rc.count() != 2 || failed[0].Attempt != 2 {
		t.Fatalf("attempts: receiver %d, log %d", rc.count(), failed[0].Attempt)
	}
	if _, err := in.svc.Retry(context.Background(), webhooks.Caller{}, "no-such-delivery"); !errors.Is(err, eventstore.ErrNotFound) {
		t.Errorf("retry of an unknown delivery: %v", err)
	}
	d, err := in.svc.Retry(context.Background(), webhooks.Caller{Actor: "ops"}, failed[0].ID)
	if err != nil || d.Status != "pending" {
		t.Fatalf("retry = %+v, %v", d, err)
	}
	eventstest.Eventually(t, 10*time.Second, func() bool {
		got, _ := in.svc.Deliveries(ep.ID, "delivered", 0, 10)
		return len(got) == 1 && got[0].Attempt == 3
	}, "delivered by the manual retry as attempt 3")
	got := rc.deliveries()
	if len(got) != 3 || got[2].header.Get("webhook-id") != failed[0].ID {
		t.Fatalf("receiver got %d requests; last webhook-id %q, want %q", len(got), got[len(got)-1].header.Get("webhook-id"), failed[0].ID)
	}
}

// A manual retry of a delivery waiting for its next automatic attempt
// sends it now; the job waiting out its backoff does not send it again,
// and when the manual attempt fails the schedule starts over from it.
func TestManualRetrySendsNow(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	cfg := testConfig()
	cfg.RetrySchedule = []time.Duration{time.Hour}
	cfg.MaxAttempts = 5
	in := start(t, env.Store, cfg)
	rc := newReceiver(t, 500, 500)
	ep := register(t, in, rc.URL, "task.completed")
	completeTask(t, env.Store)
	var waiting []webhooks.Delivery
	eventstest.Eventually(t, 10*time.Second, func() bool {
		waiting, _ = in.svc.Deliveries(ep.ID, "retrying", 0, 10)
		return len(waiting) == 1
	}, "the failed delivery waits for its next attempt")
	if next := waiting[0].NextRetryAt; next == nil || time.Until(*next) < 30*time.Minute {
		t.Fatalf("next automatic attempt at %v, want in about an hour", next)
	}
	// "The endpoint is back" (it still fails once more): the manual
	// attempt is made now, fails, and the schedule starts over from it.
	d, err := in.svc.Retry(context.Background(), webhooks.Caller{Actor: "ops"}, waiting[0].ID)
	if err != nil || d.Status != "pending" {
		t.Fatalf("retry of a retrying delivery = %+v, %v", d, err)
	}
	if _, err := in.svc.Retry(context.Background(), webhooks.Caller{Actor: "ops"}, waiting[0].ID); !errors.Is(err, webhooks.ErrInFlight) {
		t.Fatalf("a second retry while the first is queued: %v", err)
	}
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() == 2 }, "the manual retry was not sent now")
	eventstest.Eventually(t, 10*time.Second, func() bool {
		got, _ := in.svc.Deliveries(ep.ID, "retrying", 0, 10)
		return len(got) == 1 && got[0].Attempt == 2
	}, "after the failed manual attempt the delivery waits again")
	got, _ := in.svc.Deliveries(ep.ID, "", 0, 10)
	if next := got[0].NextRetryAt; next == nil || time.Until(*next) < 30*time.Minute {
		t.Fatalf("after a failed manual attempt the next one is at %v, want the schedule's first step again", next)
	}
	// Now it answers: a second retry by hand delivers it.
	if _, err := in.svc.Retry(context.Background(), webhooks.Caller{Actor: "ops"}, waiting[0].ID); err != nil {
		t.Fatal(err)
	}
	eventstest.Eventually(t, 10*time.Second, func() bool {
		got, _ := in.svc.Deliveries(ep.ID, "delivered", 0, 10)
		return len(got) == 1 && got[0].Attempt == 3
	}, "the second manual retry delivered it")
	if rc.count() != 3 {
		t.Fatalf("the receiver got %d requests, want 3", rc.count())
	}
}

// Attempts go to PROV_DELIVERIES, kept for a retention, and never to
// PROV_EVENTS, which holds what happened to workflows.
func TestAttemptsHaveAStreamOfTheirOwn(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	cfg := testConfig()
	cfg.MaxAttempts = 3
	in := start(t, env.Store, cfg)
	rc := newReceiver(t, 500, 500, 500)
	ep := register(t, in, rc.URL, "task.completed")
	completeTask(t, env.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool {
		got, _ := in.svc.Deliveries(ep.ID, "failed", 0, 10)
		return len(got) == 1 && got[0].Attempt == 3
	}, "three attempts recorded")
	_ = env.Store.Read(context.Background(), events.EventsStream, eventstore.Position{}, func(e events.Envelope, err error) error {
		if e.Aggregate == events.AggWebhookDelivery {
			t.Errorf("PROV_EVENTS holds delivery record %s (seq %d)", e.Type, e.Seq)
		}
		return nil
	})
	n := 0
	_ = env.Store.Read(context.Background(), events.DeliveriesStream, eventstore.Position{}, func(e events.Envelope, err error) error {
		if e.Type == events.WebhookDeliveryAttempted {
			n++
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("PROV_DELIVERIES holds %d attempts, want 3", n)
	}
	st, err := env.Store.JetStream().Stream(context.Background(), events.DeliveriesStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if age := st.CachedInfo().Config.MaxAge; age != webhooks.DefaultDeliveryRetention {
		t.Fatalf("PROV_DELIVERIES keeps records for %s, want %s", age, webhooks.DefaultDeliveryRetention)
	}
}

func TestEndpointThatKeepsFailingIsDisabled(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	cfg := testConfig()
	cfg.MaxAttempts = 1
	cfg.DisableAfterFailures = 3
	cfg.DisableAfter = time.Nanosecond
	in := start(t, env.Store, cfg)
	rc := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500)
	ep := register(t, in, rc.URL, "*")
	completeTask(t, env.Store)
	completeTask(t, env.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool {
		e, _ := in.svc.Endpoint(ep.ID)
		return e.Status == "disabled"
	}, "the endpoint is disabled")
	e, _ := in.svc.Endpoint(ep.ID)
	if e.DisabledAt == nil || !strings.Contains(e.DisabledReason, "consecutive failed attempts") {
		t.Errorf("endpoint = %+v", e)
	}
	last, err := env.Store.Last(context.Background(), events.AggWebhook, ep.ID)
	if err != nil || last.Type != events.WebhookDisabled {
		t.Fatalf("last event of the endpoint: %v %v", last.Type, err)
	}
}

func TestConfiguredEndpointsRegisteredOnce(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	rc := newReceiver(t)
	cfg := testConfig()
	cfg.Endpoints = []webhooks.EndpointConfig{{URL: rc.URL + "/ci", Events: []string{"task.completed", "task.failed", "batch.completed"}, Secret: "webhook-secret"}}
	a := start(t, env.Store, cfg)
	id := webhooks.ConfigID(rc.URL + "/ci")
	eventstest.Eventually(t, 5*time.Second, func() bool { _, ok := a.svc.Endpoint(id); return ok }, "registered")
	a.stop()
	b := start(t, env.Store, cfg)
	completeTask(t, env.Store)
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() == 1 }, "delivered")
	if err := webhooks.Verify("webhook-secret", rc.deliveries()[0].header, rc.deliveries()[0].body); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = env.Store.Read(context.Background(), events.EventsStream, eventstore.Position{Subjects: []string{events.AggregateSubject(events.AggWebhook, id)}}, func(events.Envelope, error) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d registry events for one configured endpoint started twice", n)
	}
	if err := b.svc.Delete(context.Background(), webhooks.Caller{}, id); !errors.Is(err, webhooks.ErrConfigured) {
		t.Fatalf("delete of a configured endpoint: %v", err)
	}
}

func TestTwoInstancesDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	a := start(t, env.Store, testConfig())
	start(t, env.Store, testConfig())
	rc := newReceiver(t)
	register(t, a, rc.URL, "*")
	const tasks = 10
	for range tasks {
		completeTask(t, env.Store)
	}
	eventstest.Eventually(t, 10*time.Second, func() bool { return rc.count() >= 2*tasks }, "every event delivered")
	settled(t, env.Store)
	seen := map[string]bool{}
	for _, d := range rc.deliveries() {
		id := d.header.Get("webhook-id")
		if seen[id] {
			t.Errorf("webhook-id %s delivered twice", id)
		}
		seen[id] = true
	}
	if len(seen) != 2*tasks {
		t.Fatalf("%d distinct deliveries, want %d", len(seen), 2*tasks)
	}
}

// settled waits until nothing more can be delivered: the dispatcher has
// acknowledged every event and no delivery job is left (an acknowledged
// job leaves the work-queue stream). A duplicate would have been sent by
// then, so a test can count what arrived.
func settled(t *testing.T, store *eventstore.Store) {
	t.Helper()
	ctx := context.Background()
	js := store.JetStream()
	eventstest.Eventually(t, 10*time.Second, func() bool {
		dispatch, err := js.Consumer(ctx, events.EventsStream.Name, webhooks.DispatchConsumer)
		if err != nil {
			return false
		}
		info, err := dispatch.Info(ctx)
		if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
			return false
		}
		jobs, err := js.Stream(ctx, webhooks.JobsStream)
		if err != nil {
			return false
		}
		state, err := jobs.Info(ctx)
		return err == nil && state.State.Msgs == 0
	}, "deliveries settled")
}
