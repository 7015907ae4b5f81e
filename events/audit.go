package events

// AggAudit is the aggregate of audit records, one instance per record, in
// PROV_AUDIT.
const AggAudit Aggregate = "audit"

// AuditRecorded is one audited request: a mutation, a login or a denial.
const AuditRecorded Type = "AuditRecorded"

// Audit results.
const (
	AuditSuccess = "success"
	AuditFailure = "failure"
	AuditDenied  = "denied"
)

func init() {
	register(AggAudit, AuditRecorded)
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
