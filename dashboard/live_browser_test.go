package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events/eventstest"
)

func startOn(t *testing.T, cfg app.Config) *app.Instance {
	t.Helper()
	in, err := app.Start(context.Background(), cfg, apptest.Logger(t))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	apptest.Describe(t, in)
	return in
}

func closeInstance(t *testing.T, in *app.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := in.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// The page's server goes away; while it is away another instance on the
// same NATS runs a task; the server comes back on its address. The page
// reconnects by itself, resumes after the last event it had, and shows
// every event of that task, none missed.
func TestReconnectAfterRestartShowsMissedEvents(t *testing.T) {
	nats := eventstest.Start(t)
	cfg := apptest.Config(t)
	cfg.NATSURL = nats.URL()
	cfg.OrchestratorAddr, cfg.ControlAddr = apptest.FreeAddr(t), apptest.FreeAddr(t)
	first := startOn(t, cfg)
	p := openPage(t, first)
	p.signIn("admin", apptest.AdminPassword, "")
	p.open("/")
	p.liveNow()
	before := submitServers(t, apptest.AdminClient(t, first), "before")
	p.until(fmt.Sprintf(`!!document.querySelector('#feed a[href$="%s"]')`, before), "the first task's events in the feed")

	closeInstance(t, first)
	p.until(`document.getElementById('live').dataset.state === 'reconnecting'`, "the page to notice")

	otherCfg := apptest.Config(t)
	otherCfg.NATSURL = nats.URL()
	other := startOn(t, otherCfg)
	otherOrch := apptest.AdminClient(t, other)
	missed := submitServers(t, otherOrch, "while-away")
	history := otherOrch.Do(t, http.MethodGet, "/events?id="+missed, nil)
	var events []struct {
		Seq uint64 `json:"seq"`
	}
	history.Decode(t, &events)
	closeInstance(t, other)

	again := startOn(t, cfg)
	t.Cleanup(func() { closeInstance(t, again) })
	p.liveNow()
	p.until(fmt.Sprintf(`document.querySelectorAll('#feed a[href$="%s"]').length === %d`, missed, len(events)),
		fmt.Sprintf("all %d events of the task run while the page was away", len(events)))
	for _, e := range events {
		p.until(fmt.Sprintf(`!!document.querySelector('#feed tr[data-seq="%d"]')`, e.Seq), fmt.Sprintf("event %d", e.Seq))
	}
	if n := p.eval(`provisioningDashboard.metrics.reconnects`); n == "0" {
		t.Fatalf("reconnects = %s", n)
	}
	// The figures read from the API are read again on reconnection.
	p.until(`document.querySelector('[data-count=Completed] .n').innerText === '2'`, "the counts read again")
	p.shot("overview-live")
}
