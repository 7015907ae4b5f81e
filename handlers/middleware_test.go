package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPanicBecomesA500EnvelopeWithTheRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := requestIDMiddleware(log)(recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
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
}

func TestRedactQuery(t *testing.T) {
	got := RedactQuery("token=eyJhbGci.secret&events=TaskCreated&password=x")
	if strings.Contains(got, "eyJ") || strings.Contains(got, "password=x") || !strings.Contains(got, "events=TaskCreated") {
		t.Fatalf("RedactQuery = %q", got)
	}
}
