package controlcenter

import (
	"net/http"
	"time"

	"provisioning/handlers"
	"provisioning/projections"
)

// auditLogs serves GET /audit/logs: records newest first, filtered by
// user_id, action, result, resource (itself and what lies under it), and a time
// range from..to (RFC 3339, inclusive), paginated.
func (c *API) auditLogs(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := projections.AuditFilter{UserID: q.Get("user_id"), Action: q.Get("action"), Resource: q.Get("resource"), Result: q.Get("result")}
	for _, b := range []struct {
		name string
		into *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return handlers.Errorf(http.StatusBadRequest, "%s must be an RFC 3339 time such as 2025-09-26T10:00:00Z, not %q", b.name, v)
		}
		*b.into = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return handlers.Errorf(http.StatusBadRequest, "to (%s) is before from (%s)", q.Get("to"), q.Get("from"))
	}
	records, total := c.AuditLog.List(f, p.Offset, p.Limit)
	return handlers.WritePage(w, r, p, total, records)
}
