package handlers_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/events/eventstest"
	"provisioning/executors/simulator"
	"provisioning/workflow"
)

func start(t *testing.T, tune ...func(*app.Config)) (*apptest.Client, app.Config) {
	t.Helper()
	cfg := apptest.Config(t)
	for _, f := range tune {
		f(&cfg)
	}
	_, orch, _ := apptest.StartAdmin(t, cfg)
	return orch, cfg
}

func getTask(t *testing.T, c *apptest.Client, id string) workflow.Task {
	t.Helper()
	res := c.Do(t, "GET", "/tasks/"+id, nil)
	if res.Status != http.StatusOK || !res.Success {
		t.Fatalf("GET /tasks/%s: %d %s", id, res.Status, res.Raw)
	}
	var task workflow.Task
	res.Decode(t, &task)
	return task
}

func waitStatus(t *testing.T, c *apptest.Client, id, status string, within time.Duration) workflow.Task {
	t.Helper()
	var task workflow.Task
	eventstest.Eventually(t, within, func() bool {
		task = getTask(t, c, id)
		return task.Status == status
	}, "task %s never reached %s (last %+v)", id, status, &task)
	return task
}

func submitTask(t *testing.T, c *apptest.Client, path string, body any) string {
	t.Helper()
	res := c.Do(t, "POST", path, body)
	if res.Status != http.StatusOK || !res.Success {
		t.Fatalf("POST %s: %d %s", path, res.Status, res.Raw)
	}
	var id string
	res.Decode(t, &id)
	return id
}

func TestWorkflowsCompleteThroughTheSimulator(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	cases := []struct {
		name, path  string
		body        string
		wantName    string
		wantCommand string
		wantArgs    string
		wantOutput  string
		wantStep    string // the simulator's last step
	}{
		{"servers", "/workflows/servers/create", `{"infra": "production", "settings": "config.ncl", "check_mode": false, "wait": true}`,
			"create_servers", "simulate servers create", "--infra production --settings config.ncl --wait", "Successfully created 3 servers", "Registering DNS"},
		{"taskserv", "/workflows/taskserv/create", `{"operation": "create", "taskserv": "kubernetes", "infra": "production", "settings": "config.ncl", "check_mode": false, "wait": true}`,
			"create_taskserv_kubernetes", "simulate taskserv create kubernetes", "--infra production --settings config.ncl --wait", "Successfully created taskserv kubernetes", "Verifying Kubernetes health"},
		{"cluster", "/workflows/cluster/create", `{"operation": "create", "cluster_type": "buildkit", "infra": "production", "settings": "config.ncl", "check_mode": true, "wait": true}`,
			"create_cluster_buildkit", "simulate cluster create buildkit", "--infra production --settings config.ncl --check --wait", "Check mode: would create cluster buildkit; nothing changed", "Verifying cluster"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := submitTask(t, c, tc.path, tc.body)
			task := waitStatus(t, c, id, "Completed", 30*time.Second)
			if task.ID != id || task.Name != tc.wantName || !strings.HasSuffix(task.Command, tc.wantCommand) {
				t.Errorf("task = id %s name %s command %q", task.ID, task.Name, task.Command)
			}
			if got := strings.Join(task.Args, " "); got != tc.wantArgs {
				t.Errorf("args = %q, want %q", got, tc.wantArgs)
			}
			if task.Dependencies == nil || len(task.Dependencies) != 0 {
				t.Errorf("dependencies = %v, want []", task.Dependencies)
			}
			if task.StartedAt == nil || task.CompletedAt == nil || task.CreatedAt.IsZero() || task.StartedAt.Before(task.CreatedAt) || task.CompletedAt.Before(*task.StartedAt) {
				t.Errorf("timestamps created %v started %v completed %v", task.CreatedAt, task.StartedAt, task.CompletedAt)
			}
			if task.Output == nil || *task.Output != tc.wantOutput || task.Error != nil {
				t.Errorf("output %v error %v, want %q", task.Output, task.Error, tc.wantOutput)
			}
			if task.Progress != 100 || task.Attempts != 1 {
				t.Errorf("progress %v attempts %d", task.Progress, task.Attempts)
			}
			// However the progress events were sampled, a finished task
			// shows the step it ended on.
			step := "<none>"
			if task.CurrentStep != nil {
				step = *task.CurrentStep
			}
			if step != tc.wantStep || task.TotalSteps == 0 || task.CompletedSteps != task.TotalSteps {
				t.Errorf("current step %q, steps %d/%d; want %q, all done", step, task.CompletedSteps, task.TotalSteps, tc.wantStep)
			}
		})
	}
}

func TestTheViewHasTheReferenceFields(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	id := submitTask(t, c, "/workflows/servers/create", map[string]any{"infra": "production", "settings": "config.ncl", "wait": true})
	res := c.Do(t, "GET", "/tasks/"+id, nil)
	for _, field := range []string{`"id"`, `"name"`, `"command"`, `"args"`, `"dependencies"`, `"status"`, `"created_at"`, `"started_at"`, `"completed_at"`, `"output"`, `"error"`} {
		if !strings.Contains(string(res.Data), field+":") {
			t.Errorf("task view lacks %s: %s", field, res.Data)
		}
	}
}

func TestFailingWorkflowRecordsTheError(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	id := submitTask(t, c, "/workflows/taskserv/create", map[string]any{"operation": "create", "taskserv": "fail-cilium", "infra": "production"})
	task := waitStatus(t, c, id, "Failed", 30*time.Second)
	if task.Error == nil || !strings.Contains(*task.Error, "simulated failure") {
		t.Fatalf("error = %v, want the simulator's stderr", task.Error)
	}
	if task.CompletedAt == nil {
		t.Fatal("a failed task has completed_at")
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	long := strings.Repeat("a", 64)
	cases := []struct {
		name, path string
		body       any
		status     int
		mention    string
	}{
		{"missing infra", "/workflows/servers/create", `{"settings": "config.ncl"}`, 422, "infra"},
		{"empty infra", "/workflows/servers/create", `{"infra": ""}`, 422, "infra"},
		{"infra wrong type", "/workflows/servers/create", `{"infra": 42}`, 422, "infra"},
		{"infra too long", "/workflows/servers/create", `{"infra": "` + long + `"}`, 422, "infra"},
		{"infra looks like a flag", "/workflows/servers/create", `{"infra": "--check"}`, 422, "infra"},
		{"infra with spaces", "/workflows/servers/create", `{"infra": "prod uction"}`, 422, "infra"},
		{"settings wrong type", "/workflows/servers/create", `{"infra": "p", "settings": ["a"]}`, 422, "settings"},
		{"settings starts with dash", "/workflows/servers/create", `{"infra": "p", "settings": "-x"}`, 422, "settings"},
		{"settings too long", "/workflows/servers/create", `{"infra": "p", "settings": "` + strings.Repeat("s", 256) + `"}`, 422, "settings"},
		{"settings absolute", "/workflows/servers/create", `{"infra": "p", "settings": "/etc/shadow"}`, 422, "settings"},
		{"settings climbing out", "/workflows/servers/create", `{"infra": "p", "settings": "../../etc/shadow"}`, 422, "settings"},
		{"settings climbing inside", "/workflows/taskserv/create", `{"taskserv": "k8s", "infra": "p", "settings": "infra/../../x.ncl"}`, 422, "settings"},
		{"settings absolute in a cluster", "/workflows/cluster/create", `{"cluster_type": "buildkit", "infra": "p", "settings": "/root/.ssh/id_rsa"}`, 422, "settings"},
		{"batch settings absolute", "/batch/execute", `{"name": "b", "settings": "/etc/shadow", "operations": [{"id": "a", "type": "cluster_batch", "clusters": ["c"]}]}`, 422, "settings"},
		{"operation settings climbing", "/batch/execute", `{"name": "b", "operations": [{"id": "a", "type": "cluster_batch", "clusters": ["c"], "settings": "../x"}]}`, 422, "operations[0].settings"},
		{"check_mode wrong type", "/workflows/servers/create", `{"infra": "p", "check_mode": "yes"}`, 422, "check_mode"},
		{"wait wrong type", "/workflows/servers/create", `{"infra": "p", "wait": 1}`, 422, "wait"},
		{"unknown field", "/workflows/servers/create", `{"infra": "p", "flavour": "x"}`, 422, "flavour"},
		{"duplicated field", "/workflows/servers/create", `{"infra": "p", "infra": "q"}`, 422, "infra"},
		{"malformed JSON", "/workflows/servers/create", `{"infra": `, 400, "malformed"},
		{"empty body", "/workflows/servers/create", ``, 400, "empty"},
		{"array body", "/workflows/servers/create", `[]`, 400, "object"},
		{"two values", "/workflows/servers/create", `{"infra": "p"} {}`, 400, "more than one"},
		{"taskserv missing", "/workflows/taskserv/create", `{"operation": "create", "infra": "p"}`, 422, "taskserv"},
		{"taskserv bad operation", "/workflows/taskserv/create", `{"operation": "explode", "taskserv": "k8s", "infra": "p"}`, 422, "operation"},
		{"taskserv operation wrong type", "/workflows/taskserv/create", `{"operation": 1, "taskserv": "k8s", "infra": "p"}`, 422, "operation"},
		{"cluster_type missing", "/workflows/cluster/create", `{"operation": "create", "infra": "p"}`, 422, "cluster_type"},
		{"cluster_type too long", "/workflows/cluster/create", `{"cluster_type": "` + long + `", "infra": "p"}`, 422, "cluster_type"},
		{"huge body", "/workflows/servers/create", []byte(`{"infra": "` + strings.Repeat("x", 2<<20) + `"}`), 413, "larger"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.Do(t, "POST", tc.path, tc.body)
			if res.Status != tc.status || res.Success || !strings.Contains(res.Error, tc.mention) {
				t.Fatalf("got %d %s, want %d mentioning %q", res.Status, res.Raw, tc.status, tc.mention)
			}
		})
	}
	// Nothing of it was stored.
	list := c.Do(t, "GET", "/tasks", nil)
	if list.Header.Get("X-Total-Count") != "0" {
		t.Fatalf("rejected requests created tasks: %s", list.Raw)
	}
}

func TestRoutesAnswerInTheEnvelope(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	health := c.Do(t, "GET", "/health", nil)
	if health.Status != 200 || string(health.Data) != `"Orchestrator is healthy"` {
		t.Fatalf("health: %d %s", health.Status, health.Raw)
	}
	nf := c.Do(t, "GET", "/no/such/route", nil)
	if nf.Status != 404 || nf.Success || nf.Error == "" {
		t.Fatalf("unknown route: %d %s", nf.Status, nf.Raw)
	}
	missing := c.Do(t, "GET", "/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV", nil)
	if missing.Status != 404 || missing.Success {
		t.Fatalf("unknown task: %d %s", missing.Status, missing.Raw)
	}
	na := c.Do(t, "DELETE", "/tasks", nil)
	if na.Status != 405 || na.Success || na.Header.Get("Allow") != "GET" {
		t.Fatalf("wrong method: %d allow=%q %s", na.Status, na.Header.Get("Allow"), na.Raw)
	}
	if ct := health.Header.Get("Content-Type"); ct != "application/vnd.provisioning.v1+json" {
		t.Fatalf("content type %q", ct)
	}
	if health.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	echo := c.Do(t, "GET", "/health", nil, "X-Request-Id", "abc-123")
	if echo.Header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id not echoed: %q", echo.Header.Get("X-Request-Id"))
	}
}

func TestVersioningByAccept(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	for _, accept := range []string{"", "application/vnd.provisioning.v1+json", "application/json", "*/*", "text/html, */*;q=0.8"} {
		res := c.Do(t, "GET", "/health", nil, "Accept", accept)
		if res.Status != 200 {
			t.Errorf("Accept %q: %d %s", accept, res.Status, res.Raw)
		}
	}
	res := c.Do(t, "GET", "/health", nil, "Accept", "application/vnd.provisioning.v2+json")
	if res.Status != 406 || res.Success || !strings.Contains(res.Error, "v1") {
		t.Fatalf("v2: %d %s", res.Status, res.Raw)
	}
}

func TestTaskListPagination(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, submitTask(t, c, "/workflows/servers/create", map[string]any{"infra": fmt.Sprintf("i%d", i)}))
	}
	first := c.Do(t, "GET", "/tasks?limit=2", nil)
	var page []workflow.Task
	first.Decode(t, &page)
	if len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
		t.Fatalf("first page %v, want the newest two", page)
	}
	h := first.Header
	if h.Get("X-Total-Count") != "5" || h.Get("X-Limit") != "2" || h.Get("X-Offset") != "0" {
		t.Fatalf("headers %v", h)
	}
	if got := h.Get("Link"); got != `</tasks?limit=2&offset=2>; rel="next"` {
		t.Fatalf("first Link = %q", got)
	}
	middle := c.Do(t, "GET", "/tasks?limit=2&offset=2", nil)
	if got := middle.Header.Get("Link"); got != `</tasks?limit=2&offset=4>; rel="next", </tasks?limit=2&offset=0>; rel="prev"` {
		t.Fatalf("middle Link = %q", got)
	}
	last := c.Do(t, "GET", "/tasks?offset=4&limit=2", nil)
	last.Decode(t, &page)
	if len(page) != 1 || page[0].ID != ids[0] || last.Header.Get("Link") != `</tasks?limit=2&offset=2>; rel="prev"` {
		t.Fatalf("last page %d items, Link %q", len(page), last.Header.Get("Link"))
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=x", "offset=-1", "offset=x", "limit=", "status=Done"} {
		if res := c.Do(t, "GET", "/tasks?"+q, nil); res.Status != 400 || res.Success {
			t.Errorf("?%s: %d %s", q, res.Status, res.Raw)
		}
	}
	eventstest.Eventually(t, 30*time.Second, func() bool {
		return c.Do(t, "GET", "/tasks?status=Completed", nil).Header.Get("X-Total-Count") == "5"
	}, "five tasks never completed")
	filtered := c.Do(t, "GET", "/tasks?status=Completed&limit=1", nil)
	if got := filtered.Header.Get("Link"); !strings.Contains(got, "status=Completed") {
		t.Fatalf("Link drops the filter: %q", got)
	}
}

func TestIdempotencyKeyCreatesOnce(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	body := map[string]any{"infra": "production"}
	a := c.Do(t, "POST", "/workflows/servers/create", body, "Idempotency-Key", "k-1")
	b := c.Do(t, "POST", "/workflows/servers/create", body, "Idempotency-Key", "k-1")
	if string(a.Data) != string(b.Data) {
		t.Fatalf("same key gave %s and %s", a.Data, b.Data)
	}
	other := c.Do(t, "POST", "/workflows/servers/create", body, "Idempotency-Key", "k-2")
	if string(other.Data) == string(a.Data) {
		t.Fatal("another key returned the same task")
	}
	if n := c.Do(t, "GET", "/tasks", nil).Header.Get("X-Total-Count"); n != "2" {
		t.Fatalf("%s tasks, want 2", n)
	}
}

func TestCancelRunningTaskKillsItsProcessGroup(t *testing.T) {
	t.Parallel()
	c, cfg := start(t, func(c *app.Config) { c.SimSpeed = 1 })
	id := submitTask(t, c, "/workflows/servers/create", map[string]any{"infra": "slow"})
	waitStatus(t, c, id, "Running", 30*time.Second)
	var pid int
	eventstest.Eventually(t, 10*time.Second, func() bool {
		entries, _ := simulator.ReadJournal(cfg.DataDir + "/simulator/state.json")
		for _, e := range entries {
			if e.TaskID == id && e.Event == "start" {
				pid = e.PID
			}
		}
		return pid != 0
	}, "the simulator never started")
	res := c.Do(t, "POST", "/tasks/"+id+"/cancel", nil)
	if res.Status != 200 || string(res.Data) != `"Task cancelled"` {
		t.Fatalf("cancel: %d %s", res.Status, res.Raw)
	}
	task := getTask(t, c, id)
	if task.Status != "Cancelled" || task.CompletedAt == nil {
		t.Fatalf("after cancel: %+v", task)
	}
	eventstest.Eventually(t, 5*time.Second, func() bool { return !apptest.ProcessAlive(pid) },
		"the task's process %d survived the cancel", pid)
	again := c.Do(t, "POST", "/tasks/"+id+"/cancel", nil)
	if again.Status != 200 {
		t.Fatalf("second cancel: %d %s", again.Status, again.Raw)
	}
}

func TestCancelPendingTaskNeverRuns(t *testing.T) {
	t.Parallel()
	c, cfg := start(t, func(c *app.Config) { c.SimSpeed = 1; c.Workers = 1 })
	busy := submitTask(t, c, "/workflows/servers/create", map[string]any{"infra": "busy"})
	waitStatus(t, c, busy, "Running", 30*time.Second)
	journal := func() []simulator.JournalEntry {
		entries, err := simulator.ReadJournal(cfg.DataDir + "/simulator/state.json")
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	// The simulator's journal records the busy run: it would record the
	// queued one too.
	eventstest.Eventually(t, 30*time.Second, func() bool {
		return slices.ContainsFunc(journal(), func(e simulator.JournalEntry) bool { return e.TaskID == busy })
	}, "the busy run is in the journal")
	queued := submitTask(t, c, "/workflows/servers/create", map[string]any{"infra": "queued"})
	res := c.Do(t, "POST", "/tasks/"+queued+"/cancel", nil)
	if res.Status != 200 {
		t.Fatalf("cancel: %d %s", res.Status, res.Raw)
	}
	if task := getTask(t, c, queued); task.Status != "Cancelled" || task.StartedAt != nil {
		t.Fatalf("queued task after cancel: %+v", task)
	}
	c.Do(t, "POST", "/tasks/"+busy+"/cancel", nil)
	waitStatus(t, c, busy, "Cancelled", 30*time.Second)
	// The worker is free now: had the queued job still been runnable, it
	// would be taken next. Wait until no job is left queued or held.
	eventstest.Eventually(t, 30*time.Second, func() bool {
		text := string(c.Do(t, "GET", "/metrics", nil).Raw)
		return strings.Contains(text, "\norchestrator_work_queue_pending 0\n") && strings.Contains(text, "\norchestrator_work_queue_in_flight 0\n")
	}, "work queue drained")
	for _, e := range journal() {
		if e.TaskID == queued {
			t.Fatalf("the cancelled task ran: %+v", e)
		}
	}
}

func TestCancelFinishedTaskConflicts(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	id := submitTask(t, c, "/workflows/servers/create", map[string]any{"infra": "quick"})
	waitStatus(t, c, id, "Completed", 30*time.Second)
	res := c.Do(t, "POST", "/tasks/"+id+"/cancel", nil)
	if res.Status != 409 || res.Success || !strings.Contains(res.Error, "Completed") {
		t.Fatalf("cancel after completion: %d %s", res.Status, res.Raw)
	}
	if res := c.Do(t, "POST", "/tasks/nope/cancel", nil); res.Status != 404 {
		t.Fatalf("cancel unknown: %d %s", res.Status, res.Raw)
	}
}

func TestIdempotencyKeyUnderRace(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	body := `{"infra": "production", "settings": "config.ncl"}`
	answers := make(chan apptest.Response, 20)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- c.Do(t, "POST", "/workflows/servers/create", body, "Idempotency-Key", "race-1")
		}()
	}
	wg.Wait()
	close(answers)
	ids := map[string]int{}
	replayed := 0
	for a := range answers {
		if a.Status != 200 {
			t.Fatalf("answer %d %s", a.Status, a.Raw)
		}
		ids[string(a.Data)]++
		if a.Header.Get("Idempotent-Replayed") == "true" {
			replayed++
		}
	}
	if len(ids) != 1 || replayed != 19 {
		t.Fatalf("20 identical requests gave ids %v, %d replayed", ids, replayed)
	}
	if n := c.Do(t, "GET", "/tasks", nil).Header.Get("X-Total-Count"); n != "1" {
		t.Fatalf("%s tasks created, want 1", n)
	}
	other := c.Do(t, "POST", "/workflows/servers/create", `{"infra": "staging"}`, "Idempotency-Key", "race-1")
	if other.Status != 422 || !strings.Contains(other.Error, "different request body") {
		t.Fatalf("reused key with another body: %d %s", other.Status, other.Raw)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	id := submitTask(t, c, "/workflows/servers/create", map[string]any{"infra": "m"})
	waitStatus(t, c, id, "Completed", 30*time.Second)
	c.Do(t, "GET", "/tasks/"+id, nil)
	res := c.Do(t, "GET", "/metrics", nil)
	text := string(res.Raw)
	for _, want := range []string{
		`orchestrator_tasks_total{status="completed"} 1`,
		"orchestrator_task_duration_seconds_bucket",
		`http_requests_total{api="orchestrator",code="200",method="GET",route="/tasks/{id}"}`,
		"http_request_duration_seconds_bucket",
		"orchestrator_work_queue_pending 0",
		"orchestrator_work_queue_in_flight 0",
		`projection_lag_events{stream="PROV_EVENTS"}`,
		`orchestrator_tasks{status="completed"} 1`,
		"http_rate_limited_total",
		"websocket_clients 0",
		"webhook_jobs_queued_total",
		"go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, id) {
		t.Error("a raw path (with a task id) leaked into a metric label")
	}
}

// A compressed body is refused with 415 saying so, never parsed as the
// JSON it is not; the control center does the same.
func TestEncodedBodiesAreRefused(t *testing.T) {
	t.Parallel()
	c, _ := start(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"infra": "production"}`))
	_ = zw.Close()
	for _, enc := range []string{"gzip", "deflate", "br", "GZIP"} {
		res := c.Do(t, "POST", "/workflows/servers/create", gz.Bytes(), "Content-Encoding", enc)
		if res.Status != http.StatusUnsupportedMediaType || res.Success || !strings.Contains(res.Error, "Content-Encoding") {
			t.Fatalf("Content-Encoding %s: %d %s", enc, res.Status, res.Raw)
		}
	}
	if res := c.Do(t, "POST", "/workflows/servers/create", []byte(`{"infra": "production"}`), "Content-Encoding", "identity"); res.Status != 200 {
		t.Fatalf("Content-Encoding identity: %d %s", res.Status, res.Raw)
	}
	if list := c.Do(t, "GET", "/tasks", nil); list.Header.Get("X-Total-Count") != "1" {
		t.Fatalf("tasks after the refused bodies: %s", list.Header.Get("X-Total-Count"))
	}
}
