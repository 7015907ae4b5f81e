package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPanicBecomesA500EnvelopeWithTheRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	var h http.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	outer := OuterMiddleware(log, reg, "test")
	for i := len(outer) - 1; i >= 0; i-- {
		h = outer[i](h)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("X-Request-Id", "req-42")
	h.ServeHTTP(rec, req)
	var body struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 500 || body.Success || !strings.Contains(body.Error, "req-42") || strings.Contains(body.Error, "boom") {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), `"request_id":"req-42"`) || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("the panic was not logged with the request id: %s", logs.String())
	}
	// The 500 is in the access log and the metrics like any answer.
	if !strings.Contains(logs.String(), `"msg":"request"`) || !strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("the 500 is not in the access log: %s", logs.String())
	}
	want := `
# HELP http_requests_total HTTP requests by API, route pattern, method and status code.
# TYPE http_requests_total counter
http_requests_total{api="test",code="500",method="GET",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "http_requests_total"); err != nil {
		t.Fatal(err)
	}
}

func TestRedactQuery(t *testing.T) {
	got := RedactQuery("token=eyJhbGci.secret&events=TaskCreated&password=x")
	if strings.Contains(got, "eyJ") || strings.Contains(got, "password=x") || !strings.Contains(got, "events=TaskCreated") {
		t.Fatalf("RedactQuery = %q", got)
	}
}
