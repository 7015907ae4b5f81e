package orchestrator

import (
	"encoding/json"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"no secret", `{"task_id":"T","status":"Completed"}`, `{"task_id":"T","status":"Completed"}`},
		{"webhook secret", `{"webhook_id":"W","secret":"s3cr3t","url":"https://x"}`, `{"secret":"[redacted]","url":"https://x","webhook_id":"W"}`},
		{"nested", `{"a":{"password":"p","b":[{"token":"t"}]}}`, `{"a":{"b":[{"token":"[redacted]"}],"password":"[redacted]"}}`},
		{"empty secret kept", `{"secret":""}`, `{"secret":""}`},
		{"sealed secret", `{"webhook_id":"W","sealed_secret":"v1.k.box"}`, `{"sealed_secret":"[redacted]","webhook_id":"W"}`},
		{"a word in a value", `{"note":"the secret is out"}`, `{"note":"the secret is out"}`},
	}
	for _, tc := range tests {
		got := string(redact(json.RawMessage(tc.in)))
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
