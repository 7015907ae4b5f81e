package webhooks

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// webhook_attempts_total has a series per outcome before any attempt, so
// that a rate of failures is 0, not absent, on a quiet instance.
func TestAttemptSeriesExistBeforeTheFirstAttempt(t *testing.T) {
	reg := prometheus.NewRegistry()
	newMetrics(reg)
	if n, err := testutil.GatherAndCount(reg, "webhook_attempts_total"); err != nil || n != 3 {
		t.Fatalf("webhook_attempts_total has %d series before any attempt (%v), want 3", n, err)
	}
}
