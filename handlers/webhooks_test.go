package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/webhooks"
)

// hookServer is an instance's orchestrator API.
type hookServer struct{ URL string }

// tokens holds the admin token of each started instance by base URL;
// call sends the matching one.
var tokens sync.Map

// startHooks runs an instance with a webhook configuration and returns
// its orchestrator API and event store.
func startHooks(t *testing.T, hooks webhooks.Config) (*hookServer, *eventstore.Store) {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.Workers = 0
	cfg.Webhooks = hooks
	in, _, _ := apptest.StartAdmin(t, cfg)
	tokens.Store(in.OrchestratorURL(), apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword))
	return &hookServer{URL: in.OrchestratorURL()}, in.Store()
}

type answer struct {
	status int
	header http.Header
	body   struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   string          `json:"error"`
		Fields  []struct{ Field string }
	}
}

func call(t *testing.T, method, url, body string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	tokens.Range(func(base, token any) bool {
		if strings.HasPrefix(url, base.(string)+"/") {
			req.Header.Set("Authorization", "Bearer "+token.(string))
			return false
		}
		return true
	})
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return a
}

func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	fail := make(chan bool, 10)
	var mu sync.Mutex
	var got []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id"))
		mu.Unlock()
		select {
		case <-fail:
			w.WriteHeader(http.StatusBadGateway)
		default:
		}
	}))
	t.Cleanup(rc.Close)
	srv, store := startHooks(t, webhooks.Config{AllowPrivateTargets: true, RetrySchedule: []time.Duration{10 * time.Millisecond}, MaxAttempts: 1})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct{ name, body, field string }{
			{"no url", `{"events":["*"]}`, "url"},
			{"ftp", `{"url":"ftp://x.example.com/","events":["*"]}`, "url"},
			{"no events", `{"url":"https://x.example.com/"}`, "events"},
			{"unknown event", `{"url":"https://x.example.com/","events":["task.finished"]}`, "events[0]"},
			{"short secret", `{"url":"https://x.example.com/","events":["*"],"secret":"abc"}`, "secret"},
			{"unknown field", `{"url":"https://x.example.com/","events":["*"],"retries":3}`, "retries"},
			{"wrong type", `{"url":"https://x.example.com/","events":"task.*"}`, "events"},
		} {
			a := call(t, "POST", srv.URL+"/webhooks", tc.body)
			if a.status != 422 || len(a.body.Fields) == 0 || a.body.Fields[0].Field != tc.field {
				t.Errorf("%s: %d %+v", tc.name, a.status, a.body)
			}
		}
		if a := call(t, "POST", srv.URL+"/webhooks", `{"url":`); a.status != 400 {
			t.Errorf("malformed JSON: %d", a.status)
		}
	})

	a := call(t, "POST", srv.URL+"/webhooks", `{"url":"`+rc.URL+`/hook","events":["task.*"],"description":"ci"}`, "Idempotency-Key", "k1")
	if a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body.Error)
	}
	var created struct {
		ID, URL, Secret, Status, Source string
		Events                          []string
	}
	_ = json.Unmarshal(a.body.Data, &created)
	if created.ID == "" || len(created.Secret) < 32 || created.Status != "active" || created.Source != "api" || a.header.Get("Location") != "/webhooks/"+created.ID {
		t.Fatalf("created = %+v, Location %q", created, a.header.Get("Location"))
	}
	again := call(t, "POST", srv.URL+"/webhooks", `{"url":"`+rc.URL+`/hook","events":["task.*"],"description":"ci"}`, "Idempotency-Key", "k1")
	if !strings.Contains(string(again.body.Data), created.ID) {
		t.Errorf("the same Idempotency-Key created another endpoint: %s", again.body.Data)
	}

	one := call(t, "GET", srv.URL+"/webhooks/"+created.ID, "")
	if one.status != 200 || strings.Contains(string(one.body.Data), created.Secret) || strings.Contains(string(one.body.Data), `"secret"`) {
		t.Errorf("GET shows %d %s", one.status, one.body.Data)
	}
	list := call(t, "GET", srv.URL+"/webhooks?limit=1", "")
	if list.status != 200 || list.header.Get("X-Total-Count") != "1" || strings.Contains(string(list.body.Data), created.Secret) {
		t.Errorf("list: %d %v %s", list.status, list.header, list.body.Data)
	}
	if a := call(t, "GET", srv.URL+"/webhooks/nope", ""); a.status != 404 {
		t.Errorf("unknown webhook: %d", a.status)
	}

	// One delivered, one failed (max_attempts = 1), then retried by hand.
	fail <- true
	completeTaskVia(t, store)
	var deliveries []webhooks.Delivery
	eventstest.Eventually(t, 10*time.Second, func() bool {
		d := call(t, "GET", srv.URL+"/webhooks/"+created.ID+"/deliveries", "")
		_ = json.Unmarshal(d.body.Data, &deliveries)
		return len(deliveries) == 2 && deliveries[0].Status != "" && deliveries[1].Status != "" &&
			deliveries[0].Status != "retrying" && deliveries[1].Status != "retrying"
	}, "two deliveries settled")
	var failed webhooks.Delivery
	for _, d := range deliveries {
		if d.Status == "failed" {
			failed = d
		}
	}
	if failed.ID == "" || failed.StatusCode == nil || *failed.StatusCode != 502 || failed.Error == nil || failed.Attempt != 1 {
		t.Fatalf("deliveries = %+v", deliveries)
	}
	page := call(t, "GET", srv.URL+"/webhooks/"+created.ID+"/deliveries?status=failed&limit=1", "")
	if page.header.Get("X-Total-Count") != "1" {
		t.Errorf("status=failed: %v", page.header)
	}
	if a := call(t, "GET", srv.URL+"/webhooks/"+created.ID+"/deliveries?status=lost", ""); a.status != 400 {
		t.Errorf("bad status filter: %d", a.status)
	}
	if a := call(t, "POST", srv.URL+"/webhooks/deliveries/nope/retry", ""); a.status != 404 {
		t.Errorf("retry of unknown delivery: %d", a.status)
	}
	r := call(t, "POST", srv.URL+"/webhooks/deliveries/"+failed.ID+"/retry", "")
	if r.status != 202 || !strings.Contains(string(r.body.Data), `"status":"pending"`) {
		t.Fatalf("retry: %d %s %s", r.status, r.body.Data, r.body.Error)
	}
	eventstest.Eventually(t, 10*time.Second, func() bool {
		d := call(t, "GET", srv.URL+"/webhooks/"+created.ID+"/deliveries?status=delivered", "")
		return d.header.Get("X-Total-Count") == "2"
	}, "the retried delivery is delivered")
	mu.Lock()
	if n := strings.Count(strings.Join(got, " "), failed.ID); n != 2 {
		t.Errorf("the receiver saw webhook-id %s %d times, want 2", failed.ID, n)
	}
	mu.Unlock()

	if a := call(t, "DELETE", srv.URL+"/webhooks/"+created.ID, ""); a.status != 200 {
		t.Fatalf("delete: %d %s", a.status, a.body.Error)
	}
	if a := call(t, "GET", srv.URL+"/webhooks/"+created.ID, ""); a.status != 404 {
		t.Errorf("deleted webhook: %d", a.status)
	}
	if a := call(t, "DELETE", srv.URL+"/webhooks/"+created.ID, ""); a.status != 404 {
		t.Errorf("second delete: %d", a.status)
	}
}

func completeTaskVia(t *testing.T, store *eventstore.Store) {
	t.Helper()
	id := events.NewID()
	created, _ := events.New(events.TaskCreated, id, events.TaskCreatedData{TaskID: id, Name: "x"})
	first, err := store.Append(context.Background(), created, eventstore.ExpectLast(0))
	if err != nil {
		t.Fatal(err)
	}
	done, _ := events.New(events.TaskStatusChanged, id, events.TaskStatusChangedData{TaskID: id, Status: events.StatusCompleted})
	if _, err := store.Append(context.Background(), done, eventstore.ExpectLast(first.Seq)); err != nil {
		t.Fatal(err)
	}
}
