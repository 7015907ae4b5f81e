package apptest

import (
	"net/http"
	"strings"
	"testing"

	"provisioning/handlers"
)

// The check fails what it must: a test suite that validated nothing would
// pass as well.
func TestCheckAnswer(t *testing.T) {
	t.Parallel()
	const task = `{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","name":"servers_create","command":"provisioning","args":[],"dependencies":[],
		"status":"Running","created_at":"2025-09-26T10:00:00Z","started_at":null,"completed_at":null,"output":null,"error":null,
		"workflow":"servers","operation":"create","progress":40,"current_step":"Booting","completed_steps":1,"attempts":1,"timeout_seconds":3600}`
	envelope := func(data string) string { return `{"success":true,"data":` + data + `}` }
	headers := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {handlers.MediaTypeV1}, "X-Request-Id": {"abc"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	page := headers("X-Total-Count", "1", "X-Limit", "50", "X-Offset", "0")
	errBody := `{"success":false,"error":"no"}`
	tests := []struct {
		name, api, method, path string
		status                  int
		header                  http.Header
		body                    string
		wantErr                 string // "" passes
	}{
		{"a task", "", "GET", "/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV", 200, headers(), envelope(task), ""},
		{"a page of tasks", "", "GET", "/tasks?limit=50", 200, page, envelope("[" + task + "]"), ""},
		{"a field missing", "", "GET", "/tasks/x", 200, headers(), envelope(strings.Replace(task, `"attempts":1,`, "", 1)), "attempts"},
		{"a field not described", "", "GET", "/tasks/x", 200, headers(), envelope(strings.Replace(task, `"attempts":1,`, `"attempts":1,"secret":"x",`, 1)), "secret"},
		{"a wrong enum", "", "GET", "/tasks/x", 200, headers(), envelope(strings.Replace(task, "Running", "running", 1)), "status"},
		{"null where not nullable", "", "GET", "/tasks/x", 200, headers(), envelope(strings.Replace(task, `"args":[]`, `"args":null`, 1)), "args"},
		{"no envelope", "", "GET", "/tasks/x", 200, headers(), task, "success"},
		{"a status not described", "", "GET", "/tasks/x", 418, headers(), errBody, "status is not supported"},
		{"no request id", "", "GET", "/tasks/x", 404, http.Header{"Content-Type": {handlers.MediaTypeV1}}, errBody, "X-Request-Id"},
		{"no pagination headers", "", "GET", "/tasks", 200, headers(), envelope("[]"), "header \"X-Limit\" missing"},
		{"an error without a message", "", "GET", "/tasks/x", 404, headers(), `{"success":false}`, "error"},
		{"another content type", "", "GET", "/tasks/x", 404, headers("Content-Type", "text/plain"), "no", "Content-Type"},
		{"a 401 without a challenge", "", "GET", "/tasks", 401, headers(), errBody, "WWW-Authenticate"},
		{"a 401 with a challenge", "", "GET", "/tasks", 401, headers("WWW-Authenticate", "Bearer"), errBody, ""},
		{"an unknown route's 404", "", "GET", "/nope", 404, headers(), errBody, ""},
		{"an unknown route's 200", "", "GET", "/nope", 200, headers(), envelope("1"), "not described"},
		{"the other API's path", string(handlers.ControlCenterAPI), "GET", "/tasks", 404, headers(), errBody, ""},
		{"metrics", "", "GET", "/metrics", 200, headers("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), "up 1\n", ""},
		{"the WebSocket", "", "GET", "/ws", 101, http.Header{"X-Request-Id": {"abc"}}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
			err := checkAnswer(handlers.API(tc.api), req, tc.status, tc.header, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected mismatch: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no mismatch found, want one about %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("mismatch %v, want one about %s", err, tc.wantErr)
			}
		})
	}
}
