package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"provisioning/app/apptest"
	"provisioning/events/eventstest"
)

// submitServers submits a server workflow through the API and waits until
// it has completed.
func submitServers(t *testing.T, orch *apptest.Client, infra string) string {
	t.Helper()
	res := orch.Do(t, http.MethodPost, "/workflows/servers/create", map[string]any{"infra": infra})
	if res.Status != http.StatusOK {
		t.Fatalf("submit: %d %s", res.Status, res.Raw)
	}
	var id string
	res.Decode(t, &id)
	eventstest.Eventually(t, 60*time.Second, func() bool {
		return strings.Contains(string(orch.Do(t, http.MethodGet, "/tasks/"+id, nil).Raw), `"status":"Completed"`)
	}, "task %s did not complete", id)
	return id
}

func TestRollBackToCheckpoint(t *testing.T) {
	in, orch, _ := apptest.StartAdmin(t, apptest.Config(t))
	p := openPage(t, in)
	p.signIn("admin", apptest.AdminPassword, "")
	p.open("/recovery")
	p.fill("#checkpoint-form [name=name]", "before_change")
	p.fill("#checkpoint-form [name=description]", "taken by the browser test")
	p.click("#checkpoint-form button[type=submit]")
	p.until(`document.querySelectorAll('#checkpoints tbody tr').length === 1`, "the checkpoint listed")
	// Work done after the checkpoint...
	task := submitServers(t, orch, "after-checkpoint")
	// ...is undone by a rollback to it, behind a confirmation.
	p.click("#checkpoints [data-action=rollback]")
	text := p.confirmDialog()
	if !strings.Contains(text, "completed after this checkpoint") || !strings.Contains(text, "delete") {
		t.Errorf("the confirmation does not say what will happen: %q", text)
	}
	p.until(`document.getElementById('rollback-status') && document.getElementById('rollback-status').dataset.status === 'Completed'`, "the rollback to complete")
	if got := p.text("#rollback-status"); !strings.Contains(got, "1 executed, 0 failed") {
		t.Errorf("rollback status %q", got)
	}
	// The API agrees: the task has a completed compensation.
	list := orch.Do(t, http.MethodGet, "/tasks?status=Completed", nil)
	if !strings.Contains(string(list.Raw), `"compensates":"`+task+`"`) {
		t.Fatalf("no compensation of %s in %s", task, list.Raw)
	}
}

func TestRetryWebhookDelivery(t *testing.T) {
	var healthy atomic.Bool
	var received atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !healthy.Load() {
			http.Error(w, "receiver down", http.StatusInternalServerError)
			return
		}
		received.Add(1)
	}))
	t.Cleanup(rc.Close)
	cfg := apptest.Config(t)
	cfg.Webhooks.AllowPrivateTargets = true
	cfg.Webhooks.MaxAttempts = 1
	in, orch, _ := apptest.StartAdmin(t, cfg)
	p := openPage(t, in)
	p.signIn("admin", apptest.AdminPassword, "")
	p.open("/webhooks")
	p.fill("#webhook-form [name=url]", rc.URL+"/hook")
	p.fill("#webhook-form [name=events]", "task.completed")
	p.click("#webhook-form button[type=submit]")
	p.visible("#webhook-secret")
	p.until(`document.querySelectorAll('#webhooks tbody tr').length === 1`, "the endpoint listed")
	submitServers(t, orch, "production")
	p.click("#webhooks tbody tr a")
	// The one attempt fails; the page shows it, with its HTTP status.
	p.until(`document.querySelector('#deliveries-table tr[data-status=failed]')`, "the failed delivery")
	if got := p.text("#deliveries-table"); !strings.Contains(got, "500") {
		t.Errorf("deliveries: %q", got)
	}
	healthy.Store(true)
	p.click("#deliveries-table tr[data-status=failed] [data-action=retry]")
	p.confirmDialog()
	p.until(`document.querySelector('#deliveries-table tr[data-status=delivered]')`, "the delivery delivered")
	p.eval(`document.querySelector('#deliveries-table details').open = true`)
	if got := p.text("#deliveries-table"); !strings.Contains(got, "2 attempts") {
		t.Errorf("deliveries after the retry: %q", got)
	}
	if received.Load() != 1 {
		t.Fatalf("the receiver got %d deliveries", received.Load())
	}
}
