package events

import "time"

// AggAudit is the aggregate of audit records, one instance per record, in
// PROV_AUDIT.
const AggAudit Aggregate = "audit"

// AuditRecorded is one audited request: a mutation, a login or a denial.
const AuditRecorded Type = "AuditRecorded"

// AuditBatchRecorded holds the records of requests that finished while
// the previous audit append was in flight: one message, and with
// `--sync always` one fsync, for all of them (group commit). Each record
// keeps its own id, time, actor and request id.
const AuditBatchRecorded Type = "AuditBatchRecorded"

// Audit results.
const (
	AuditSuccess = "success"
	AuditFailure = "failure"
	AuditDenied  = "denied"
)

func init() {
	register(AggAudit, AuditRecorded)
	register(AggAudit, AuditBatchRecorded)
	aggregateStream[AggAudit] = AuditStream
}

// AuditRecordedData is the payload of AuditRecorded. The record's id and
// timestamp are the event's.
type AuditRecordedData struct {
	UserID   string         `json:"user_id"`
	Action   string         `json:"action"`
	Resource string         `json:"resource"`
	Result   string         `json:"result"`
	Details  map[string]any `json:"details,omitempty"`
}

// AuditBatchRecordedData is the payload of AuditBatchRecorded.
type AuditBatchRecordedData struct {
	Records []AuditBatchEntry `json:"records"`
}

// AuditBatchEntry is one record of a batch: what an AuditRecorded event
// would have held, envelope fields included.
type AuditBatchEntry struct {
	ID            string    `json:"id"`
	Time          time.Time `json:"time"`
	Actor         string    `json:"actor,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	AuditRecordedData
}
