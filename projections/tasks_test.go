package projections_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"provisioning/events"
	"provisioning/projections"
	"provisioning/workflow"
)

var update = flag.Bool("update", false, "rewrite golden files")

// loadEvents reads a JSON-lines fixture; the line number is the sequence.
func loadEvents(t *testing.T, path string) []events.Envelope {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []events.Envelope
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		env, err := events.Parse(sc.Bytes(), uint64(len(out)+1))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, env)
	}
	return out
}

// render is the whole observable state of the view: the list and each
// task's snapshots, counts and durations.
func render(t *testing.T, v *projections.Tasks) []byte {
	t.Helper()
	tasks, total := v.List(projections.TaskFilter{}, 0, 1000)
	type full struct {
		Task      workflow.Task
		Snapshots []workflow.Snapshot
		Spec      events.TaskSpec
	}
	var all []full
	for _, task := range tasks {
		all = append(all, full{task, task.Snapshots, task.Spec})
	}
	out, err := json.MarshalIndent(map[string]any{"total": total, "tasks": all, "counts": v.Counts(), "runs": v.Runs()}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func fold(t *testing.T, evs []events.Envelope) *projections.Tasks {
	t.Helper()
	v := projections.NewTasks()
	for _, e := range evs {
		if err := v.Apply(e); err != nil {
			t.Fatalf("apply seq %d: %v", e.Seq, err)
		}
	}
	return v
}

func TestTasksFoldGolden(t *testing.T) {
	evs := loadEvents(t, "testdata/tasks.events.jsonl")
	got := render(t, fold(t, evs))
	golden := "testdata/tasks.view.golden.json"
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
		t.Fatalf("view differs from %s (run with -update to accept):\n%s", golden, got)
	}
}

func TestSnapshotPlusReplayEqualsFullReplay(t *testing.T) {
	evs := loadEvents(t, "testdata/tasks.events.jsonl")
	want := render(t, fold(t, evs))
	for cut := 0; cut <= len(evs); cut++ {
		head := fold(t, evs[:cut])
		snap, err := head.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored := projections.NewTasks()
		if err := restored.Restore(snap); err != nil {
			t.Fatalf("cut %d: restore: %v", cut, err)
		}
		for _, e := range evs[cut:] {
			if err := restored.Apply(e); err != nil {
				t.Fatalf("cut %d: apply seq %d: %v", cut, e.Seq, err)
			}
		}
		if got := render(t, restored); !bytes.Equal(got, want) {
			t.Fatalf("snapshot at %d then replay differs from a full replay:\n%s", cut, got)
		}
	}
}

func TestRestoreRefusesGarbage(t *testing.T) {
	v := fold(t, loadEvents(t, "testdata/tasks.events.jsonl"))
	before := render(t, v)
	for _, bad := range [][]byte{nil, []byte("not gob"), {0x0f, 0xff, 0x81}} {
		if err := v.Restore(bad); err == nil {
			t.Fatalf("Restore(%q) succeeded", bad)
		}
	}
	if !bytes.Equal(render(t, v), before) {
		t.Fatal("a failed restore changed the view")
	}
}
