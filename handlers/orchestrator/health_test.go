package orchestrator_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"provisioning/handlers/orchestrator"
)

func TestSystemHealth(t *testing.T) {
	t.Parallel()
	check := func(status, detail string) orchestrator.HealthCheck {
		return func(context.Context) (string, string) { return status, detail }
	}
	tests := []struct {
		name    string
		checks  map[string]orchestrator.HealthCheck
		code    int
		overall string
	}{
		{"all healthy", map[string]orchestrator.HealthCheck{"storage": check("Healthy", ""), "batch_coordinator": check("Healthy", ""), "monitoring": check("Healthy", "")}, 200, "Healthy"},
		{"one degraded", map[string]orchestrator.HealthCheck{"storage": check("Healthy", ""), "batch_coordinator": check("Degraded", "behind"), "monitoring": check("Healthy", "")}, 503, "Degraded"},
		{"one unhealthy", map[string]orchestrator.HealthCheck{"storage": check("Unhealthy", "no JetStream"), "batch_coordinator": check("Degraded", "behind"), "monitoring": check("Healthy", "")}, 503, "Unhealthy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := &orchestrator.API{Health: tc.checks, Registry: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			rec := httptest.NewRecorder()
			o.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/state/system/health", nil))
			var body struct {
				Success bool   `json:"success"`
				Error   string `json:"error"`
				Data    struct {
					Overall    string            `json:"overall_status"`
					Components map[string]string `json:"components"`
					LastCheck  string            `json:"last_check"`
				} `json:"data"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.code || body.Data.Overall != tc.overall || body.Success != (tc.code == 200) || len(body.Data.Components) != 3 || body.Data.LastCheck == "" {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if tc.code != 200 && body.Error == "" {
				t.Fatalf("a failing health check says nothing: %s", rec.Body)
			}
		})
	}
}
