package projections_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

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

// A task's final status carries the CLI's last progress line, which the
// sampled progress events may have missed: the view shows the step the
// task really ended on.
func TestFinalStatusRecordsTheLastStep(t *testing.T) {
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	var seq uint64
	ev := func(typ events.Type, id string, data any) events.Envelope {
		t.Helper()
		e, err := events.New(typ, id, data)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		e.Seq, e.Time = seq, at.Add(time.Duration(seq)*time.Second)
		return e
	}
	created := func(id string) events.Envelope {
		return ev(events.TaskCreated, id, events.TaskCreatedData{TaskID: id, Name: "create_servers",
			Spec: events.TaskSpec{Workflow: "servers", Operation: "create", Infra: "prod"}, Subcommand: []string{"servers", "create"}})
	}
	v := fold(t, []events.Envelope{
		created("done"),
		ev(events.TaskStatusChanged, "done", events.TaskStatusChangedData{TaskID: "done", Status: events.StatusRunning, Attempt: 1}),
		ev(events.TaskProgress, "done", events.TaskProgressData{TaskID: "done", Attempt: 1, Progress: 0, Step: "Validating", TotalSteps: 6}),
		ev(events.TaskStatusChanged, "done", events.TaskStatusChangedData{TaskID: "done", Status: events.StatusCompleted, Attempt: 1,
			Step: "Registering DNS", TotalSteps: 6, Progress: 83}),
		created("failed"),
		ev(events.TaskStatusChanged, "failed", events.TaskStatusChangedData{TaskID: "failed", Status: events.StatusRunning, Attempt: 1}),
		ev(events.TaskStatusChanged, "failed", events.TaskStatusChangedData{TaskID: "failed", Status: events.StatusFailed, Attempt: 1,
			Step: "Waiting for boot", TotalSteps: 6, Progress: 50, Error: "boot timed out"}),
		created("quiet"),
		ev(events.TaskStatusChanged, "quiet", events.TaskStatusChangedData{TaskID: "quiet", Status: events.StatusRunning, Attempt: 1}),
		ev(events.TaskProgress, "quiet", events.TaskProgressData{TaskID: "quiet", Attempt: 1, Progress: 40, Step: "Creating", TotalSteps: 3}),
		ev(events.TaskStatusChanged, "quiet", events.TaskStatusChangedData{TaskID: "quiet", Status: events.StatusCompleted, Attempt: 1}),
	})
	for _, want := range []struct {
		id, status, step string
		progress         float64
		total, completed int
	}{
		{"done", events.StatusCompleted, "Registering DNS", 100, 6, 6},
		{"failed", events.StatusFailed, "Waiting for boot", 50, 6, 0},
		{"quiet", events.StatusCompleted, "Creating", 100, 3, 3}, // a CLI that printed nothing more
	} {
		got, ok := v.Get(want.id)
		if !ok {
			t.Fatalf("task %s missing", want.id)
		}
		if got.Status != want.status || got.CurrentStep == nil || *got.CurrentStep != want.step || got.Progress != want.progress ||
			got.TotalSteps != want.total || got.CompletedSteps != want.completed {
			t.Errorf("task %s: status %s, step %v, progress %v, steps %d/%d; want %s, %q, %v, %d/%d", want.id, got.Status,
				stepOf(got.CurrentStep), got.Progress, got.CompletedSteps, got.TotalSteps, want.status, want.step, want.progress, want.completed, want.total)
		}
	}
}

func stepOf(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
