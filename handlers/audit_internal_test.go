package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
)

// gatedAppender records what it is asked to append; the first append
// waits until release is closed, and appends after the first fail with
// fail when it is set.
type gatedAppender struct {
	release chan struct{}
	fail    error
	mu      sync.Mutex
	got     []events.Envelope
}

func (g *gatedAppender) Append(ctx context.Context, e events.Envelope, _ ...eventstore.AppendOption) (events.Envelope, error) {
	g.mu.Lock()
	g.got = append(g.got, e)
	first := len(g.got) == 1
	g.mu.Unlock()
	if first {
		<-g.release
		return e, nil
	}
	return e, g.fail
}

func (a *Auditor) pendingCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

// auditUnderLoad records one audit record, then six more while the first
// append is held, releases it and returns each request's error by action.
func auditUnderLoad(t *testing.T, fail error) (*gatedAppender, map[string]error) {
	t.Helper()
	store := &gatedAppender{release: make(chan struct{}), fail: fail}
	a := &Auditor{Store: store}
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	record := func(action string) {
		defer wg.Done()
		err := a.Record(httptest.NewRequest("POST", "/tasks", nil), events.AuditRecordedData{UserID: "u1", Action: action, Resource: "tasks", Result: events.AuditSuccess})
		mu.Lock()
		errs[action] = err
		mu.Unlock()
	}
	wg.Add(1)
	go record("first")
	eventstest.Eventually(t, 5*time.Second, func() bool { store.mu.Lock(); defer store.mu.Unlock(); return len(store.got) == 1 }, "first append")
	for i := range 6 {
		wg.Add(1)
		go record(fmt.Sprintf("later-%d", i))
		eventstest.Eventually(t, 5*time.Second, func() bool { return a.pendingCount() == i+1 }, "%d records waiting", i+1)
	}
	close(store.release)
	wg.Wait()
	return store, errs
}

// Records of requests that finish while an audit append is in flight go
// together in the next message, in order, each with its own id, and
// every request returns only once its record is stored.
func TestAuditGroupCommit(t *testing.T) {
	store, errs := auditUnderLoad(t, nil)
	for action, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", action, err)
		}
	}
	if len(store.got) != 2 {
		t.Fatalf("%d appends, want 2 (one record, then one batch of six)", len(store.got))
	}
	if store.got[0].Type != events.AuditRecorded {
		t.Errorf("first append is %s, want AuditRecorded", store.got[0].Type)
	}
	var batch events.AuditBatchRecordedData
	if store.got[1].Type != events.AuditBatchRecorded || store.got[1].Decode(&batch) != nil {
		t.Fatalf("second append is %s, want AuditBatchRecorded", store.got[1].Type)
	}
	ids := map[string]bool{store.got[0].AggregateID: true}
	for i, r := range batch.Records {
		if r.Action != fmt.Sprintf("later-%d", i) || r.UserID != "u1" || r.Actor != "user:u1" || r.Time.IsZero() || r.Details["path"] != "/tasks" {
			t.Errorf("record %d = %+v", i, r)
		}
		if ids[r.ID] || r.ID == "" {
			t.Errorf("record %d id %q is not its own", i, r.ID)
		}
		ids[r.ID] = true
	}
	if len(batch.Records) != 6 {
		t.Errorf("batch holds %d records, want 6", len(batch.Records))
	}
}

// When the batch's append fails, every request in it fails; the one
// stored before does not.
func TestAuditGroupFailureFailsEveryRequestInIt(t *testing.T) {
	_, errs := auditUnderLoad(t, errors.New("disk full"))
	if errs["first"] != nil {
		t.Errorf("first: %v, want nil", errs["first"])
	}
	for i := range 6 {
		if err := errs[fmt.Sprintf("later-%d", i)]; err == nil {
			t.Errorf("later-%d: nil error, want the batch's failure", i)
		}
	}
}

// countingAppender stores every record it is given, one append at a time
// with a pause, as a slow disk would.
type countingAppender struct {
	mu      sync.Mutex
	records map[string]int
	appends int
}

func (c *countingAppender) Append(ctx context.Context, e events.Envelope, _ ...eventstore.AppendOption) (events.Envelope, error) {
	time.Sleep(200 * time.Microsecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.appends++
	switch e.Type {
	case events.AuditRecorded:
		var d events.AuditRecordedData
		if err := e.Decode(&d); err != nil {
			return e, err
		}
		c.records[d.Action]++
	case events.AuditBatchRecorded:
		var d events.AuditBatchRecordedData
		if err := e.Decode(&d); err != nil {
			return e, err
		}
		for _, r := range d.Records {
			c.records[r.Action]++
		}
	}
	return e, nil
}

// Under many concurrent requests every record is stored exactly once,
// every request returns, and records share appends.
func TestAuditGroupCommitUnderConcurrency(t *testing.T) {
	store := &countingAppender{records: map[string]int{}}
	a := &Auditor{Store: store}
	const n = 500
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Record(httptest.NewRequest("POST", "/tasks", nil), events.AuditRecordedData{Action: fmt.Sprint(i), Result: events.AuditSuccess}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(store.records) != n {
		t.Fatalf("%d records stored, want %d", len(store.records), n)
	}
	for action, times := range store.records {
		if times != 1 {
			t.Errorf("record %s stored %d times", action, times)
		}
	}
	if store.appends >= n {
		t.Errorf("%d appends for %d concurrent records: nothing was grouped", store.appends, n)
	}
	if a.pendingCount() != 0 || a.flushing {
		t.Errorf("left %d pending, flushing %v", a.pendingCount(), a.flushing)
	}
}
