package bench

// The dashboard benchmark: headless Chromium on the real page of a real
// instance. Each figure is measured beside the same page showing a batch
// of 10 operations, in the same run:
//
//   - navigation to an interactive graph (a full page load of the batch
//     page until the graph is drawn and the main thread is free again);
//   - the longest main-thread task (PerformanceObserver 'longtask') while
//     a running batch streams about 1,000 status changes a second for the
//     window, the changes all arriving over the page's WebSocket;
//   - the tasks page answering a filter change (the change until the new
//     rows are on the page), over Tasks tasks.
//
// The status changes are real: the executors run the batch's tasks with
// GatedRunner, whose tasks take a fixed time once its gate is open, so
// parallel_limit / duration sets the rate.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"

	"provisioning/app"
	"provisioning/dashboard/browser"
	"provisioning/events"
	"provisioning/executors"
	"provisioning/handlers"
	"provisioning/workflow"
)

// DashboardOptions describe a run. Zero values take the defaults.
type DashboardOptions struct {
	// Operations of the big batch (default 10,000); the baseline batch has
	// 10.
	Operations int
	// Tasks on the tasks page (default 100,000).
	Tasks int
	// Window of live updates measured (default 10 s).
	Window time.Duration
	// TaskTime is how long a task of the live phase runs, and Parallel the
	// batch's parallel limit (defaults 1 s and 500: about 1,000 status
	// changes a second with the benchmark batch's shape).
	TaskTime time.Duration
	Parallel int
	Log      *slog.Logger
}

func (o DashboardOptions) withDefaults() DashboardOptions {
	if o.Operations <= 0 {
		o.Operations = 10000
	}
	if o.Tasks <= 0 {
		o.Tasks = 100000
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.TaskTime <= 0 {
		o.TaskTime = time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 500
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// GatedRunner runs a job by waiting for its gate to be open, then for
// Duration: a stand-in for the CLI whose pace the benchmark sets. It
// exists for benchmarks.
type GatedRunner struct {
	Duration time.Duration
	gate     atomic.Pointer[chan struct{}]
}

// NewGatedRunner returns a runner with its gate open.
func NewGatedRunner(d time.Duration) *GatedRunner {
	g := &GatedRunner{Duration: d}
	open := make(chan struct{})
	close(open)
	g.gate.Store(&open)
	return g
}

// Hold closes the gate: jobs started from now on wait.
func (g *GatedRunner) Hold() {
	ch := make(chan struct{})
	g.gate.Store(&ch)
}

// Release opens the gate.
func (g *GatedRunner) Release() {
	ch := *g.gate.Load()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Run implements executors.Runner.
func (g *GatedRunner) Run(ctx context.Context, _ executors.Job, _ func(executors.Progress)) executors.Result {
	select {
	case <-*g.gate.Load():
	case <-ctx.Done():
		return executors.Result{ExitCode: -1, Err: ctx.Err()}
	}
	t := time.NewTimer(g.Duration)
	defer t.Stop()
	select {
	case <-t.C:
		return executors.Result{ExitCode: 0, Output: "ok"}
	case <-ctx.Done():
		return executors.Result{ExitCode: -1, Err: ctx.Err()}
	}
}

// DashboardResult is what one run measured, in milliseconds.
type DashboardResult struct {
	NavigateBig, NavigateSmall     float64
	LongestBig, LongestSmall       float64
	LongTasksBig, LongTasksSmall   int
	StatusRateBig, StatusRateSmall float64
	AppliedRateBig                 float64
	FilterBig, FilterSmall         float64 // median over the filter changes
	FilterBigMax, FilterSmallMax   float64
	BigOps, SmallOps, Tasks        int
}

// Dashboard runs the benchmark and returns its rows.
func Dashboard(ctx context.Context, opts DashboardOptions) ([]Row, error) {
	opts = opts.withDefaults()
	b, err := browser.Start(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	res := DashboardResult{SmallOps: 10, BigOps: opts.Operations, Tasks: opts.Tasks}
	if err := liveAndGraph(ctx, b, opts, &res); err != nil {
		return nil, err
	}
	if err := tasksPage(ctx, b, opts, &res); err != nil {
		return nil, err
	}
	return DashboardRows(res), nil
}

// DashboardRows turns a result into the table's rows.
//
// The long-task API reports tasks over 50 ms only: a page with none has
// no longest task to show, which the table prints as "-" and the rows'
// names say.
func DashboardRows(r DashboardResult) []Row {
	setup := "1 node, headless Chromium"
	big, small := fmt.Sprintf("%d ops", r.BigOps), fmt.Sprintf("%d ops", r.SmallOps)
	longest := fmt.Sprintf("batch page, %s: longest main-thread task over 50 ms (-: none), %.0f status changes/s for 10 s", big, r.StatusRateBig)
	longestBase := fmt.Sprintf("same page, %s, %.0f changes/s", small, r.StatusRateSmall)
	if r.LongestSmall == 0 {
		longest += fmt.Sprintf("; same page, %s, %.0f changes/s: none", small, r.StatusRateSmall)
	}
	return []Row{
		{Section: "dashboard", Setup: setup, Name: "batch page, " + big + ": navigation to an interactive graph", Unit: "ms", Value: r.NavigateBig,
			Baseline: r.NavigateSmall, BaselineName: "same page, " + small, Target: "<= 2000 ms", Met: Met(r.NavigateBig <= 2000)},
		{Section: "dashboard", Setup: setup, Name: longest, Unit: "ms", Value: r.LongestBig,
			Baseline: r.LongestSmall, BaselineName: longestBase, Target: "<= 100 ms", Met: Met(r.LongestBig <= 100)},
		{Section: "dashboard", Setup: setup, Name: "batch page, " + big + ": main-thread tasks over 50 ms in those 10 s (-: none)", Unit: "tasks", Value: float64(r.LongTasksBig),
			Baseline: float64(r.LongTasksSmall), BaselineName: "same page, " + small},
		{Section: "dashboard", Setup: setup, Name: "batch page, " + big + ": status changes applied to the graph", Unit: "changes/s", Value: r.AppliedRateBig},
		{Section: "dashboard", Setup: setup, Name: fmt.Sprintf("tasks page, %d tasks (in-memory views): filter change answered, median", r.Tasks), Unit: "ms", Value: r.FilterBig,
			Baseline: r.FilterSmall, BaselineName: "same page, the tasks of " + small, Target: "<= 300 ms", Met: Met(r.FilterBig <= 300)},
		{Section: "dashboard", Setup: setup, Name: fmt.Sprintf("tasks page, %d tasks: filter change answered, slowest", r.Tasks), Unit: "ms", Value: r.FilterBigMax,
			Baseline: r.FilterSmallMax, BaselineName: "same page, the tasks of " + small},
	}
}

// benchInstance starts an instance for the benchmark: temporary data,
// loopback ports, limits out of the way, runner as given.
func benchInstance(ctx context.Context, runner executors.Runner, workers int, log *slog.Logger) (*app.Instance, string, func(), error) {
	dir, err := os.MkdirTemp("", "provbench-dashboard-")
	if err != nil {
		return nil, "", nil, err
	}
	cfg := app.DefaultConfig()
	cfg.DataDir, cfg.NATSListen, cfg.Sync = dir, "", "1s"
	cfg.OrchestratorAddr, cfg.ControlAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Runner, cfg.Workers = runner, workers
	cfg.AdminPassword, cfg.BootstrapOutput = benchPassword, io.Discard
	cfg.RateLimits = handlers.RateLimits{Auth: handlers.Limit{Requests: 1_000_000, Window: time.Minute},
		General: handlers.Limit{Requests: 100_000_000, Window: time.Minute}, Batch: handlers.Limit{Requests: 1_000_000, Window: time.Minute}}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	in, err := app.Start(ctx, cfg, log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	stop := func() { in.Close(context.Background()); os.RemoveAll(dir) }
	token, err := Login(in.ControlURL(), "admin", benchPassword)
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	return in, token, stop, nil
}

func liveAndGraph(ctx context.Context, b *browser.Browser, opts DashboardOptions, res *DashboardResult) error {
	gate := NewGatedRunner(opts.TaskTime)
	in, token, stop, err := benchInstance(ctx, gate, opts.Parallel+50, opts.Log)
	if err != nil {
		return err
	}
	defer stop()
	small, err := submitBatch(in.OrchestratorURL(), token, Request(10, 5))
	if err != nil {
		return err
	}
	if err := waitBatch(ctx, in, small, time.Minute); err != nil {
		return err
	}
	p, closeTab, err := benchPage(b, in, token)
	if err != nil {
		return err
	}
	defer closeTab()
	// The tasks page's baseline: the small batch's tasks.
	if res.FilterSmall, res.FilterSmallMax, err = filterChanges(p, small); err != nil {
		return err
	}
	if res.NavigateSmall, err = navigateGraph(p, small); err != nil {
		return err
	}
	gate.Hold()
	big, err := submitBatch(in.OrchestratorURL(), token, Request(opts.Operations, opts.Parallel))
	if err != nil {
		return err
	}
	if res.NavigateBig, err = navigateGraph(p, big); err != nil {
		return err
	}
	// The big page is open; the batch's first tasks wait at the gate.
	gate.Release()
	if err := p.sleep(3 * time.Second); err != nil { // to a steady rate
		return err
	}
	if res.LongestBig, res.LongTasksBig, res.StatusRateBig, res.AppliedRateBig, err = p.longTasks(opts.Window); err != nil {
		return err
	}
	if _, err := navigateGraph(p, small); err != nil {
		return err
	}
	if res.LongestSmall, res.LongTasksSmall, res.StatusRateSmall, _, err = p.longTasks(opts.Window); err != nil {
		return err
	}
	if st, _, _ := in.Batches().Status(big); st != events.StatusRunning {
		return fmt.Errorf("the big batch ended (%s) before the baseline window did: raise -dashboard-ops or lower the rate", st)
	}
	return nil
}

func tasksPage(ctx context.Context, b *browser.Browser, opts DashboardOptions, res *DashboardResult) error {
	in, token, stop, err := benchInstance(ctx, NoopRunner{}, 16, opts.Log)
	if err != nil {
		return err
	}
	defer stop()
	// Batches of single-server operations up to Tasks, the last one's id
	// kept for the batch filter.
	var last string
	for made := 0; made < opts.Tasks; {
		n := min(10000, opts.Tasks-made)
		req := workflow.BatchRequest{Name: fmt.Sprintf("tasks-%d", made)}
		for i := 0; i < n; i++ {
			req.Operations = append(req.Operations, workflow.OperationRequest{ID: fmt.Sprintf("o%d", i), Type: events.OpServerBatch,
				ServerConfigs: []map[string]string{{"name": fmt.Sprintf("s%d", made+i)}}})
		}
		id, err := submitBatch(in.OrchestratorURL(), token, req)
		if err != nil {
			return err
		}
		if err := waitBatch(ctx, in, id, 5*time.Minute); err != nil {
			return err
		}
		last, made = id, made+n
	}
	p, closeTab, err := benchPage(b, in, token)
	if err != nil {
		return err
	}
	defer closeTab()
	res.FilterBig, res.FilterBigMax, err = filterChanges(p, last)
	return err
}

// submitBatch posts a batch and returns its id.
func submitBatch(base, token string, req workflow.BatchRequest) (string, error) {
	body, err := compactJSON(req)
	if err != nil {
		return "", err
	}
	var out struct {
		BatchID string `json:"batch_id"`
	}
	if err := postJSON(base+"/batch/execute", token, body, &out); err != nil {
		return "", fmt.Errorf("submit batch: %w", err)
	}
	return out.BatchID, nil
}

// compactJSON encodes v without its empty fields: 10,000 operations fit
// in a request body only that way.
func compactJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return json.Marshal(dropEmpty(doc))
}

func dropEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch y := e.(type) {
			case nil, string, []any, bool:
				if y == nil || y == "" || y == false || (isList(y) && len(y.([]any)) == 0) {
					delete(x, k)
					continue
				}
			}
			x[k] = dropEmpty(e)
		}
	case []any:
		for i := range x {
			x[i] = dropEmpty(x[i])
		}
	}
	return v
}

func isList(v any) bool { _, ok := v.([]any); return ok }

func waitBatch(ctx context.Context, in *app.Instance, id string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st, _, ok := in.Batches().Status(id); ok && st != events.StatusRunning {
			if st != events.StatusCompleted {
				return fmt.Errorf("batch %s ended %s", id, st)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("batch %s did not finish within %s", id, within)
}

// benchTab is a signed-in tab of the dashboard.
type benchTab struct {
	ctx  context.Context
	base string
}

// benchPage opens a tab and gives its session the token (as a sign-in
// would: the benchmark measures pages, not the password hash).
func benchPage(b *browser.Browser, in *app.Instance, token string) (*benchTab, func(), error) {
	ctx, cancel, err := b.Tab()
	if err != nil {
		return nil, nil, err
	}
	p := &benchTab{ctx: ctx, base: strings.TrimSuffix(in.DashboardURL(), "/")}
	if err := p.navigate("/login"); err != nil {
		cancel()
		return nil, nil, err
	}
	session, _ := json.Marshal(map[string]any{"token": token, "expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"user": map[string]any{"id": "", "username": "admin", "roles": []string{"admin"}}})
	if _, err := p.eval(fmt.Sprintf(`sessionStorage.setItem('provisioning.session', %q)`, session)); err != nil {
		cancel()
		return nil, nil, err
	}
	return p, cancel, nil
}

func (p *benchTab) navigate(path string) error {
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(p.base+path)); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	return nil
}

func (p *benchTab) eval(js string) (any, error) {
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
	if err != nil {
		return nil, fmt.Errorf("evaluate %.60s: %w", js, err)
	}
	return v, nil
}

func (p *benchTab) until(cond, what string) error {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Minute)
	defer cancel()
	guarded := fmt.Sprintf(`(() => { try { return !!(%s); } catch (e) { return false; } })()`, cond)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](guarded, chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

func (p *benchTab) number(js string) (float64, error) {
	v, err := p.eval(js)
	if err != nil {
		return 0, err
	}
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("%s is %v, not a number", js, v)
	}
	return f, nil
}

func (p *benchTab) sleep(d time.Duration) error {
	select {
	case <-p.ctx.Done():
		return p.ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// navigateGraph loads a batch's page three times and returns the median
// time from navigation to the interactive graph.
func navigateGraph(p *benchTab, batch string) (float64, error) {
	var times []float64
	for i := 0; i < 3; i++ {
		if err := p.navigate("/batches/" + batch); err != nil {
			return 0, err
		}
		if err := p.until(`document.querySelector('main').dataset.graph === 'ready'`, "the graph of "+batch); err != nil {
			return 0, err
		}
		ms, err := p.number(`provisioningDashboard.metrics.graphReadyAt`)
		if err != nil {
			return 0, err
		}
		times = append(times, ms)
	}
	return median(times), nil
}

// longTasks watches the main thread for window: the longest task, the
// tasks over 50 ms, and the rate of status changes the page received and
// applied to its graph.
func (p *benchTab) longTasks(window time.Duration) (longest float64, count int, received, applied float64, err error) {
	const install = `(() => {
		const m = provisioningDashboard.metrics;
		window.__long = [];
		window.__longObserver = new PerformanceObserver(list => { for (const e of list.getEntries()) window.__long.push(e.duration); });
		window.__longObserver.observe({ type: 'longtask' });
		window.__from = { status: m.statusFrames, applied: m.statusChanges, at: performance.now() };
		return true;
	})()`
	if _, err = p.eval(install); err != nil {
		return
	}
	if err = p.sleep(window); err != nil {
		return
	}
	const collect = `(() => {
		window.__longObserver.disconnect();
		const m = provisioningDashboard.metrics, s = (performance.now() - window.__from.at) / 1000;
		return JSON.stringify({ longest: Math.max(0, ...window.__long), count: window.__long.length,
			received: (m.statusFrames - window.__from.status) / s, applied: (m.statusChanges - window.__from.applied) / s });
	})()`
	v, err := p.eval(collect)
	if err != nil {
		return
	}
	var out struct {
		Longest  float64 `json:"longest"`
		Count    int     `json:"count"`
		Received float64 `json:"received"`
		Applied  float64 `json:"applied"`
	}
	s, _ := v.(string)
	if err = json.Unmarshal([]byte(s), &out); err != nil {
		return
	}
	return out.Longest, out.Count, out.Received, out.Applied, nil
}

// filterChanges opens the tasks page and changes its filters, each change
// timed from the change to the new rows on the page; it returns the
// median and the slowest.
func filterChanges(p *benchTab, batch string) (med, slowest float64, err error) {
	if err = p.navigate("/tasks"); err != nil {
		return
	}
	if err = p.until(`document.getElementById('task-results').dataset.state === 'ready'`, "the tasks page"); err != nil {
		return
	}
	steps := []struct{ name, js string }{
		{"status=Completed", `setSelect('status', 'Completed')`},
		{"status=Failed", `setSelect('status', 'Failed')`},
		{"status=Pending", `setSelect('status', 'Pending')`},
		{"batch_id", fmt.Sprintf(`setText('batch_id', %q)`, batch)},
		{"no filter", `setSelect('status', ''), setText('batch_id', '')`},
		{"status=Completed again", `setSelect('status', 'Completed')`},
	}
	const helpers = `
		window.setSelect = (name, v) => { const s = document.querySelector('#main select[name=' + name + ']'); s.value = v; s.dispatchEvent(new Event('change')); };
		window.setText = (name, v) => { const i = document.querySelector('#main input[name=' + name + ']'); i.value = v; i.form.requestSubmit(); };
		true`
	var times []float64
	for _, st := range steps {
		if _, err = p.eval(helpers + `; provisioningDashboard.metrics.filterAnsweredMs = 0; ` + st.js + `; true`); err != nil {
			return
		}
		if err = p.until(`provisioningDashboard.metrics.filterAnsweredMs > 0 && document.getElementById('task-results').dataset.state === 'ready'`, "the filter "+st.name); err != nil {
			return
		}
		var ms float64
		if ms, err = p.number(`provisioningDashboard.metrics.filterAnsweredMs`); err != nil {
			return
		}
		times = append(times, ms)
	}
	return median(times), slices.Max(times), nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
