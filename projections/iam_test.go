package projections_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/projections"
	"provisioning/secrets"
)

type feeder struct {
	t   *testing.T
	seq uint64
	at  time.Time
}

func (f *feeder) event(typ events.Type, id string, data any) events.Envelope {
	f.t.Helper()
	e, err := events.New(typ, id, data)
	if err != nil {
		f.t.Fatal(err)
	}
	f.seq++
	f.at = f.at.Add(time.Second)
	e.Seq, e.Time, e.ID = f.seq, f.at, events.NewID()
	return e
}

func apply(t *testing.T, p projections.Projection, evs ...events.Envelope) {
	t.Helper()
	for _, e := range evs {
		if err := p.Apply(e); err != nil {
			t.Fatalf("apply %s: %v", e.Type, err)
		}
	}
}

func TestUsersFold(t *testing.T) {
	t.Parallel()
	f := &feeder{t: t, at: time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)}
	u := projections.NewUsers()
	apply(t, u,
		f.event(events.UserCreated, "u1", events.UserCreatedData{UserID: "u1", Username: "Alice", Email: "alice@example.com", PasswordHash: "h1", Roles: []string{"viewer"}, Enabled: true}),
		f.event(events.UserCreated, "u2", events.UserCreatedData{UserID: "u2", Username: "bob", Roles: []string{"admin"}, Enabled: true}),
		f.event(events.UserLoggedIn, "u1", events.UserLoggedInData{UserID: "u1"}),
		f.event(events.UserUpdated, "u1", events.UserUpdatedData{UserID: "u1", Email: "a@example.com", Roles: []string{"operator"}, Enabled: false, InvalidateTokens: true}),
		f.event(events.UserUpdated, "u1", events.UserUpdatedData{UserID: "u1", Email: "a@example.com", Roles: []string{"operator"}, Enabled: true, PasswordHash: "h2"}),
		f.event(events.UserMFAEnrolled, "u1", events.UserMFAEnrolledData{UserID: "u1", SealedSecret: "v1.k.S"}),
		f.event(events.UserMFAEnabled, "u1", events.UserMFAEnabledData{UserID: "u1"}),
		f.event(events.UserDeleted, "u2", events.UserDeletedData{UserID: "u2"}),
		f.event(events.UserLoggedIn, "u2", events.UserLoggedInData{UserID: "u2"}), // a login racing the delete
	)
	a, ok := u.ByUsername("ALICE")
	if !ok || a.Email != "a@example.com" || a.Roles[0] != "operator" || !a.Enabled || a.PasswordHash != "h2" ||
		!a.MFAEnabled || a.MFASecret != (secrets.Stored{Sealed: "v1.k.S"}) || !a.MFAPending.IsZero() || a.LastLogin == nil || a.TokensValidAfter.IsZero() {
		t.Fatalf("alice %+v", a)
	}
	if _, ok := u.ByEmail("alice@example.com"); ok {
		t.Fatal("the old email still finds alice")
	}
	if _, ok := u.ByEmail("A@EXAMPLE.COM"); !ok {
		t.Fatal("the new email does not find alice")
	}
	if _, ok := u.Get("u2"); ok || u.Count() != 1 {
		t.Fatal("bob is not gone")
	}
	if err := u.Apply(f.event(events.UserUpdated, "nobody", events.UserUpdatedData{UserID: "nobody"})); err == nil {
		t.Fatal("an update of an unknown user applied")
	}
	snap, err := u.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := projections.NewUsers()
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	b, _ := restored.ByUsername("alice")
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("restored %+v, want %+v", b, a)
	}
}

func TestPoliciesFold(t *testing.T) {
	t.Parallel()
	f := &feeder{t: t, at: time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)}
	p := projections.NewPolicies()
	gen := p.Generation()
	rule := events.PolicyRule{Effect: "Allow", Resource: "servers:*", Action: []string{"read"}}
	apply(t, p,
		f.event(events.PolicyCreated, "p1", events.PolicyCreatedData{PolicyID: "p1", Name: "one", Version: "1", Rules: []events.PolicyRule{rule}, Enabled: true}),
		f.event(events.PolicyCreated, "p2", events.PolicyCreatedData{PolicyID: "p2", Name: "two", Version: "1", Rules: []events.PolicyRule{rule}, Enabled: true}),
		f.event(events.PolicyUpdated, "p1", events.PolicyCreatedData{PolicyID: "p1", Name: "uno", Version: "2", Rules: []events.PolicyRule{rule, rule}}),
		f.event(events.PolicyDeleted, "p2", events.PolicyDeletedData{PolicyID: "p2"}),
	)
	if p.Generation() == gen {
		t.Fatal("the generation did not move")
	}
	got, ok := p.Get("p1")
	if !ok || got.Name != "uno" || got.Version != "2" || len(got.Rules) != 2 || got.Enabled || got.Seq != 3 || !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("p1 %+v", got)
	}
	if _, total := p.List(0, 10); total != 1 {
		t.Fatalf("%d policies", total)
	}
	snap, _ := p.Snapshot()
	restored := projections.NewPolicies()
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if again, _ := restored.Get("p1"); !reflect.DeepEqual(again, got) {
		t.Fatalf("restored %+v", again)
	}
}

func TestAuditFold(t *testing.T) {
	t.Parallel()
	f := &feeder{t: t, at: time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)}
	a := projections.NewAuditLog()
	for _, r := range []events.AuditRecordedData{
		{UserID: "u1", Action: "auth.login", Resource: "users/u1", Result: "success"},
		{UserID: "u1", Action: "server.create", Resource: "tasks/t1", Result: "success", Details: map[string]any{"status": 200}},
		{UserID: "u2", Action: "server.create", Resource: "servers", Result: "denied"},
	} {
		apply(t, a, f.event(events.AuditRecorded, events.NewID(), r))
	}
	all, total := a.List(projections.AuditFilter{}, 0, 10)
	if total != 3 || all[0].UserID != "u2" || all[2].Action != "auth.login" || string(all[2].Details) != "{}" {
		t.Fatalf("records %+v", all)
	}
	var details map[string]any
	if err := json.Unmarshal(all[1].Details, &details); err != nil || details["status"] != float64(200) {
		t.Fatalf("details %s", all[1].Details)
	}
	for _, tc := range []struct {
		f    projections.AuditFilter
		want int
	}{
		{projections.AuditFilter{UserID: "u1"}, 2},
		{projections.AuditFilter{Action: "server.create", Result: "denied"}, 1},
		{projections.AuditFilter{Resource: "tasks"}, 1},
		{projections.AuditFilter{Resource: "servers"}, 1},
		{projections.AuditFilter{From: f.at}, 1},
		{projections.AuditFilter{To: f.at.Add(-time.Second)}, 2},
	} {
		if _, n := a.List(tc.f, 0, 10); n != tc.want {
			t.Errorf("%+v: %d, want %d", tc.f, n, tc.want)
		}
	}
	snap, _ := a.Snapshot()
	restored := projections.NewAuditLog()
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if again, _ := restored.List(projections.AuditFilter{}, 0, 10); !reflect.DeepEqual(again, all) {
		t.Fatal("restored audit log differs")
	}
}

// A batch of audit records (group commit) folds into the same records as
// one event each would: own ids and times, newest first, filters work.
func TestAuditFoldBatch(t *testing.T) {
	t.Parallel()
	f := &feeder{t: t, at: time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)}
	a := projections.NewAuditLog()
	apply(t, a, f.event(events.AuditRecorded, "r1", events.AuditRecordedData{UserID: "u1", Action: "auth.login", Resource: "auth", Result: "success"}))
	t2, t3 := f.at.Add(time.Minute), f.at.Add(time.Minute+time.Millisecond)
	apply(t, a, f.event(events.AuditBatchRecorded, events.NewID(), events.AuditBatchRecordedData{Records: []events.AuditBatchEntry{
		{ID: "r2", Time: t2, Actor: "user:u1", AuditRecordedData: events.AuditRecordedData{UserID: "u1", Action: "server.create", Resource: "tasks/t1", Result: "success", Details: map[string]any{"status": 201}}},
		{ID: "r3", Time: t3, Actor: "user:u2", AuditRecordedData: events.AuditRecordedData{UserID: "u2", Action: "server.create", Resource: "servers", Result: "denied"}},
	}}))
	all, total := a.List(projections.AuditFilter{}, 0, 10)
	if total != 3 || all[0].ID != "r3" || all[1].ID != "r2" || all[2].ID != "r1" {
		t.Fatalf("records %+v", all)
	}
	if !all[0].Timestamp.Equal(t3) || !all[1].Timestamp.Equal(t2) || string(all[0].Details) != "{}" || string(all[1].Details) != `{"status":201}` {
		t.Fatalf("batch records %+v", all[:2])
	}
	if _, n := a.List(projections.AuditFilter{UserID: "u2", Result: "denied"}, 0, 10); n != 1 {
		t.Errorf("filter on a batched record: %d, want 1", n)
	}
	if _, n := a.List(projections.AuditFilter{From: t2}, 0, 10); n != 2 {
		t.Errorf("from the batch's first record: %d, want 2", n)
	}
}
