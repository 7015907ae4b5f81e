package projections

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"provisioning/events"
)

// AuditRecord is one entry of the audit log as the API shows it.
type AuditRecord struct {
	ID        string          `json:"id"`
	Timestamp time.Time       `json:"timestamp"`
	UserID    string          `json:"user_id"`
	Action    string          `json:"action"`
	Resource  string          `json:"resource"`
	Result    string          `json:"result"`
	Details   json.RawMessage `json:"details"`
}

// AuditLog is the view of PROV_AUDIT: every record in stream order. It is
// safe for concurrent readers; only its runner applies events.
type AuditLog struct {
	mu      sync.RWMutex
	records []AuditRecord
}

// NewAuditLog returns an empty audit view.
func NewAuditLog() *AuditLog { return &AuditLog{} }

// Name implements Projection.
func (a *AuditLog) Name() string { return "audit" }

// Reset implements Projection.
func (a *AuditLog) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = nil
}

// Apply implements Projection.
func (a *AuditLog) Apply(env events.Envelope) error {
	switch env.Type {
	case events.AuditRecorded:
		var d struct {
			events.AuditRecordedData
			Details json.RawMessage `json:"details"`
		}
		if err := env.Decode(&d); err != nil {
			return err
		}
		a.add(auditRecord(env.AggregateID, env.Time, d.AuditRecordedData, d.Details))
	case events.AuditBatchRecorded:
		var d struct {
			Records []struct {
				events.AuditBatchEntry
				Details json.RawMessage `json:"details"`
			} `json:"records"`
		}
		if err := env.Decode(&d); err != nil {
			return err
		}
		recs := make([]AuditRecord, len(d.Records))
		for i, r := range d.Records {
			recs[i] = auditRecord(r.ID, r.Time, r.AuditRecordedData, r.Details)
		}
		a.add(recs...)
	}
	return nil
}

func auditRecord(id string, at time.Time, d events.AuditRecordedData, details json.RawMessage) AuditRecord {
	if len(details) == 0 || string(details) == "null" {
		details = json.RawMessage(`{}`)
	}
	return AuditRecord{ID: id, Timestamp: at, UserID: d.UserID, Action: d.Action, Resource: d.Resource, Result: d.Result, Details: details}
}

func (a *AuditLog) add(recs ...AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = append(a.records, recs...)
}

// AuditFilter narrows List; empty fields match everything. Resource matches itself and what lies under
// it ("servers" matches "servers/web-01"). From and To bound the
// timestamp, both inclusive; zero means unbounded.
type AuditFilter struct {
	UserID, Action, Resource, Result string
	From, To                         time.Time
}

func (f AuditFilter) match(r *AuditRecord) bool {
	switch {
	case f.UserID != "" && r.UserID != f.UserID,
		f.Action != "" && r.Action != f.Action,
		f.Result != "" && r.Result != f.Result,
		f.Resource != "" && r.Resource != f.Resource && !strings.HasPrefix(r.Resource, strings.TrimSuffix(f.Resource, "/")+"/"),
		!f.From.IsZero() && r.Timestamp.Before(f.From),
		!f.To.IsZero() && r.Timestamp.After(f.To):
		return false
	}
	return true
}

// List returns one page of matching records, newest first, and how many
// match in all.
func (a *AuditLog) List(f AuditFilter, offset, limit int) ([]AuditRecord, int) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	page := make([]AuditRecord, 0, min(limit, len(a.records)))
	matched := 0
	for i := len(a.records) - 1; i >= 0; i-- {
		r := &a.records[i]
		if !f.match(r) {
			continue
		}
		if matched >= offset && len(page) < limit {
			page = append(page, *r)
		}
		matched++
	}
	return page, matched
}

type auditSnapshot struct {
	Version int
	Records []AuditRecord
}

// Snapshot implements Projection.
func (a *AuditLog) Snapshot() ([]byte, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return encodeSnapshot(auditSnapshot{Version: 1, Records: a.records})
}

// Restore implements Projection.
func (a *AuditLog) Restore(data []byte) error {
	var s auditSnapshot
	if err := decodeSnapshot("audit", data, &s, &s.Version, 1); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = s.Records
	return nil
}
