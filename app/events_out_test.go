package app_test

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

	"github.com/coder/websocket"

	"provisioning/app/apptest"
	"provisioning/events/eventstest"
	"provisioning/webhooks"
)

// TestEventsOutEndToEnd: one instance, a configured webhook endpoint and
// a WebSocket client both see a submitted task complete.
func TestEventsOutEndToEnd(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies [][]byte
	var headers []http.Header
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, headers = append(bodies, b), append(headers, r.Header.Clone())
		mu.Unlock()
	}))
	defer rc.Close()

	cfg := apptest.Config(t)
	cfg.CLI = []string{"true"}
	cfg.Webhooks.AllowPrivateTargets = true
	cfg.Webhooks.Endpoints = []webhooks.EndpointConfig{{URL: rc.URL + "/ci", Events: []string{"task.completed", "task.failed", "batch.completed"}, Secret: "webhook-secret"}}
	in := apptest.Start(t, cfg)
	token := apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.OrchestratorURL(), "http")+"/ws?events=TaskStatusChanged&token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	eventstest.Eventually(t, 10*time.Second, func() bool {
		_, ok := in.Webhooks().Endpoint(webhooks.ConfigID(rc.URL + "/ci"))
		return ok
	}, "configured endpoint registered")

	req, _ := http.NewRequest(http.MethodPost, in.OrchestratorURL()+"/workflows/servers/create", strings.NewReader(`{"infra":"production","settings":"config.ncl"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sub struct{ Data string }
	_ = json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()

	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("ws: %v", err)
		}
		var f struct {
			Metadata struct{ TaskID, Status string }
		}
		_ = json.Unmarshal(b, &f)
		if strings.Contains(string(b), `"status":"completed"`) && strings.Contains(string(b), sub.Data) {
			break
		}
	}
	eventstest.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) == 1 }, "webhook delivered")
	mu.Lock()
	defer mu.Unlock()
	if err := webhooks.Verify("webhook-secret", headers[0], bodies[0]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bodies[0]), `"event":"task.completed"`) || !strings.Contains(string(bodies[0]), sub.Data) {
		t.Fatalf("body %s", bodies[0])
	}
}
