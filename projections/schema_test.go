package projections_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/projections"
)

// TestReplayVersion1Stream stores a stream written by schema version 1
// (TaskCreated with "command": a batch with a rollback, a failed task and
// a completed one, as a v1 binary wrote them) byte for byte, folds it
// from JetStream into the current views, and compares every view with
// the golden rendering.
func TestReplayVersion1Stream(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	ctx := context.Background()
	f, err := os.Open("testdata/v1.events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		var e events.Envelope
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.SchemaVersion != 1 {
			t.Fatalf("fixture line %d has schema version %d", n+1, e.SchemaVersion)
		}
		if _, err := env.Store.JetStream().Publish(ctx, e.Subject(), bytes.Clone(sc.Bytes())); err != nil {
			t.Fatal(err)
		}
		n++
	}
	tasks, batches, rollbacks, checkpoints := projections.EventViews()
	failures, err := projections.Fold(ctx, env.Store, projections.FoldRange{}, nil, tasks, batches, rollbacks, checkpoints)
	if err != nil || failures != 0 {
		t.Fatalf("fold: %v, %d events not applied", err, failures)
	}
	list, total := tasks.List(projections.TaskFilter{}, 0, 100)
	if total != 11 {
		t.Fatalf("%d tasks, want 11", total)
	}
	for _, task := range list {
		if !strings.HasPrefix(task.Command, "/usr/local/bin/provisioning ") || !strings.HasSuffix(task.Command, task.Operation) &&
			!strings.Contains(task.Command, " "+task.Operation+" ") {
			t.Fatalf("task %s: command %q not rebuilt from the v1 field", task.ID, task.Command)
		}
	}
	rendered := map[string]projections.Canonical{}
	for _, v := range []projections.Canonicalizer{tasks, batches, rollbacks, checkpoints} {
		c, err := v.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		rendered[v.Name()] = c
	}
	got := renderViews(t, rendered)
	golden := "testdata/v1.views.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("views of the v1 stream differ from %s (run with -update to see):\n%s", golden, got)
	}
}

// renderViews writes canonical views as indented JSON, items sorted.
func renderViews(t *testing.T, views map[string]projections.Canonical) []byte {
	t.Helper()
	names := make([]string, 0, len(views))
	for name := range views {
		names = append(names, name)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		ids := make([]string, 0, len(views[name]))
		for id := range views[name] {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, views[name][id], "", "  "); err != nil {
				t.Fatal(err)
			}
			b.WriteString("== " + name + " " + id + "\n")
			b.Write(pretty.Bytes())
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}
