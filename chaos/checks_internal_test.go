package chaos

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"provisioning/executors/simulator"
)

// TestCheckRunsFindsOverlaps feeds checkRuns journals that must fail:
// the checks are not vacuous.
func TestCheckRunsFindsOverlaps(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name    string
		kills   []time.Time
		entries []simulator.JournalEntry
		want    string
	}{
		{"one after the other", nil, []simulator.JournalEntry{
			{Event: "start", TaskID: "T", PID: 1, Time: at(0)}, {Event: "end", TaskID: "T", PID: 1, Time: at(2)},
			{Event: "start", TaskID: "T", PID: 2, Time: at(3)}, {Event: "end", TaskID: "T", PID: 2, Time: at(4)}}, ""},
		{"killed, then again", []time.Time{at(1)}, []simulator.JournalEntry{
			{Event: "start", TaskID: "T", PID: 1, Time: at(0)},
			{Event: "start", TaskID: "T", PID: 2, Time: at(3)}, {Event: "end", TaskID: "T", PID: 2, Time: at(4)}}, ""},
		{"intervals overlap", nil, []simulator.JournalEntry{
			{Event: "start", TaskID: "T", PID: 1, Time: at(0)}, {Event: "end", TaskID: "T", PID: 1, Time: at(2)},
			{Event: "start", TaskID: "T", PID: 2, Time: at(1)}, {Event: "end", TaskID: "T", PID: 2, Time: at(4)}}, "before the run of pid 1 ended"},
		{"started again before the kill of the first", []time.Time{at(5)}, []simulator.JournalEntry{
			{Event: "start", TaskID: "T", PID: 1, Time: at(0)},
			{Event: "start", TaskID: "T", PID: 2, Time: at(3)}, {Event: "end", TaskID: "T", PID: 2, Time: at(4)}}, "before the run of pid 1 ended"},
		{"overlap entry", nil, []simulator.JournalEntry{{Event: "overlap", TaskID: "T", PID: 2, Time: at(1)}}, "ran twice at once"},
		{"never ended", nil, []simulator.JournalEntry{{Event: "start", TaskID: "T", PID: 1, Time: at(0)}}, "never ended"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sim := filepath.Join(dir, "data", "simulator")
			if err := os.MkdirAll(sim, 0o755); err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, e := range tc.entries {
				b, _ := json.Marshal(e)
				lines = append(lines, string(b))
			}
			if err := os.WriteFile(filepath.Join(sim, "journal.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var rep Report
			checkRuns(&server{dir: dir, kills: tc.kills}, &rep)
			got := strings.Join(rep.Failures, "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("failures %q, want %q", got, tc.want)
			}
		})
	}
}
