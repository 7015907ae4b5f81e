package handlers_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/projections"
)

func auditRecords(t *testing.T, in instance, query string) []projections.AuditRecord {
	t.Helper()
	res := in.cc.Do(t, "GET", "/audit/logs"+query, nil)
	wantStatus(t, res, 200, "")
	var out []projections.AuditRecord
	res.Decode(t, &out)
	return out
}

func TestAuditLogRecordsAndFilters(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	start := time.Now().UTC()
	uid := in.createUser(t, "walt", "viewer")
	walt, _ := in.as(in.login(t, "walt"))
	wantStatus(t, walt.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": "p"}), 403, "")
	task := in.orch.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": "p"})
	var taskID string
	task.Decode(t, &taskID)
	wantStatus(t, in.orch.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": "--bad"}), 422, "")
	anon := apptestClient(in.OrchestratorURL())
	wantStatus(t, anon.Do(t, "POST", "/tasks/"+taskID+"/cancel", nil), 401, "")

	all := auditRecords(t, in, "")
	if len(all) < 6 {
		t.Fatalf("%d records", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Timestamp.After(all[i-1].Timestamp) {
			t.Fatalf("records are not newest first: %v then %v", all[i-1].Timestamp, all[i].Timestamp)
		}
	}
	find := func(action, result string) projections.AuditRecord {
		t.Helper()
		for _, r := range all {
			if r.Action == action && r.Result == result {
				return r
			}
		}
		t.Fatalf("no %s %s record in %+v", action, result, all)
		return projections.AuditRecord{}
	}
	created := find("user.create", "success")
	if created.Resource != "users/"+uid || created.UserID == "" || created.ID == "" || created.Timestamp.IsZero() {
		t.Errorf("user.create record %+v", created)
	}
	if r := find("server.create", "success"); r.Resource != "tasks/"+taskID || !strings.Contains(string(r.Details), `"status":200`) {
		t.Errorf("server.create record %+v", r)
	}
	if r := find("server.create", "failure"); !strings.Contains(string(r.Details), `"status":422`) || !strings.Contains(string(r.Details), "infra") {
		t.Errorf("failed server.create record %+v %s", r, r.Details)
	}
	if r := find("server.create", "denied"); r.UserID != uid {
		t.Errorf("denial record %+v", r)
	}
	if r := find("task.cancel", "denied"); r.UserID != "" || r.Resource != "tasks/"+taskID || !strings.Contains(string(r.Details), "unauthenticated") {
		t.Errorf("unauthenticated record %+v %s", r, r.Details)
	}
	find("auth.login", "success")

	for _, tc := range []struct {
		query string
		check func(projections.AuditRecord) bool
	}{
		{"?user_id=" + uid, func(r projections.AuditRecord) bool { return r.UserID == uid }},
		{"?action=server.create", func(r projections.AuditRecord) bool { return r.Action == "server.create" }},
		{"?resource=users", func(r projections.AuditRecord) bool { return strings.HasPrefix(r.Resource, "users/") }},
		{"?result=denied", func(r projections.AuditRecord) bool { return r.Result == "denied" }},
		{"?from=" + url.QueryEscape(start.Format(time.RFC3339Nano)), func(r projections.AuditRecord) bool { return !r.Timestamp.Before(start) }},
	} {
		got := auditRecords(t, in, tc.query)
		if len(got) == 0 {
			t.Errorf("%s: nothing", tc.query)
		}
		for _, r := range got {
			if !tc.check(r) {
				t.Errorf("%s returned %+v", tc.query, r)
			}
		}
	}
	if got := auditRecords(t, in, "?to="+url.QueryEscape(start.Add(-time.Hour).Format(time.RFC3339))); len(got) != 0 {
		t.Errorf("records before the test started: %+v", got)
	}
	page := in.cc.Do(t, "GET", "/audit/logs?limit=2&action=server.create", nil)
	if page.Header.Get("X-Total-Count") != "3" || !strings.Contains(page.Header.Get("Link"), "action=server.create") {
		t.Errorf("page headers %v", page.Header)
	}
	for _, q := range []string{"?from=yesterday", "?to=2025-13-01T00:00:00Z", "?from=2025-09-26T10:00:00Z&to=2025-09-25T10:00:00Z", "?limit=5000"} {
		wantStatus(t, in.cc.Do(t, "GET", "/audit/logs"+q, nil), 400, "")
	}
}

// When the audit log cannot be written, a mutating request does not
// answer success, and no login hands out a token.
func TestAuditFailureFailsTheRequest(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	ctx := context.Background()
	js := in.Store().JetStream()
	stream, err := js.Stream(ctx, events.AuditStream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxMsgs = int64(info.State.Msgs)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	res := in.orch.Do(t, "POST", "/workflows/servers/create", map[string]any{"infra": "p"})
	wantStatus(t, res, 503, "audit record could not be written")
	wantStatus(t, in.anon().Do(t, "POST", "/auth/login", map[string]any{"username": "admin", "password": "apptest-admin-password"}), 503, "audit")
	wantStatus(t, apptestClient(in.OrchestratorURL()).Do(t, "POST", "/tasks/x/cancel", nil), 503, "audit")
	wantStatus(t, in.orch.Do(t, "GET", "/tasks", nil), 200, "")
}
