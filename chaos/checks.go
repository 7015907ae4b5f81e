package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/executors/simulator"
)

// checkTimeout bounds the checks that follow the wait for the work to
// end (API reads, the event stream, two replays).
const checkTimeout = 5 * time.Minute

// check waits (at most cfg.Settle) for the work to end, then checks
// everything from outside under a deadline of its own, so that a slow
// settle does not leave the checks without time.
func check(ctx context.Context, cfg Config, cl *api, srv *server, subs *submissions, rep *Report) error {
	settleCtx, cancelSettle := context.WithTimeout(ctx, cfg.Settle)
	tasks, err := settle(settleCtx, cl, subs)
	cancelSettle()
	if err != nil {
		rep.fail("%v", err)
	}
	rep.Tasks = len(tasks)
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	checkPresent(ctx, cl, subs, tasks, rep)
	checkRuns(srv, rep)
	if err := checkStream(ctx, srv, cl, rep); err != nil {
		return err
	}
	checkReplay(ctx, cfg, srv, cl, rep)
	return nil
}

// settle waits until every task, the batch and the rollback have ended.
func settle(ctx context.Context, cl *api, subs *submissions) ([]task, error) {
	for {
		tasks, err := cl.tasks(ctx)
		if err != nil {
			return nil, err
		}
		busy := 0
		for _, t := range tasks {
			if !events.Terminal(t.Status) {
				busy++
			}
		}
		for _, s := range subs.all() {
			if s.Answer != Acknowledged || s.Kind == "servers" {
				continue
			}
			path := "/batch/operations/" + s.ID
			if s.Kind == "rollback" {
				path = "/state/workflows/" + s.ID + "/progress"
			}
			var w struct {
				Status string `json:"status"`
			}
			if _, err := cl.get(ctx, path, &w); err == nil && w.Status == "Running" {
				busy++
			}
		}
		if busy == 0 {
			return tasks, nil
		}
		select {
		case <-ctx.Done():
			return tasks, fmt.Errorf("%d tasks or workflows had not ended when the wait was over", busy)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// checkPresent: every acknowledged submission is there; an unknown one is
// looked for too (it may or may not have been stored).
func checkPresent(ctx context.Context, cl *api, subs *submissions, tasks []task, rep *Report) {
	byInfra := map[string]bool{}
	for _, t := range tasks {
		byInfra[t.infra()] = true
	}
	list := subs.all()
	for i, s := range list {
		var err error
		switch {
		case s.Answer == Acknowledged && s.Kind == "servers":
			list[i].Present, err = cl.exists(ctx, "/tasks/"+s.ID)
		case s.Answer == Acknowledged && s.Kind == "batch":
			list[i].Present, err = cl.exists(ctx, "/batch/operations/"+s.ID)
		case s.Answer == Acknowledged && s.Kind == "rollback":
			list[i].Present, err = cl.exists(ctx, "/state/workflows/"+s.ID+"/progress")
		case s.Kind == "servers":
			list[i].Present = byInfra[s.Name]
		}
		if err != nil {
			// Not known to be lost: whether it is there could not be read.
			list[i].CheckError = err.Error()
			rep.fail("could not check %s %s (acknowledged, id %s): %v", s.Kind, s.Name, s.ID, err)
			continue
		}
		if s.Answer == Acknowledged && !list[i].Present {
			rep.fail("LOST: %s %s was acknowledged (%d, id %s) and is not there", s.Kind, s.Name, s.Status, s.ID)
		}
	}
	subs.mu.Lock()
	subs.list = list
	subs.mu.Unlock()
	for _, t := range tasks {
		if !events.Terminal(t.Status) {
			rep.fail("task %s is still %s", t.ID, t.Status)
		}
	}
}

func (t task) infra() string {
	for i := 0; i+1 < len(t.Args); i++ {
		if t.Args[i] == "--infra" {
			return t.Args[i+1]
		}
	}
	return ""
}

// run is one run of a task's command, from the simulator's journal.
type run struct {
	task       string
	pid        int
	start, end time.Time
}

// checkRuns reads the simulator's journal: no run started while another
// run of the same task held its lock (an "overlap" entry), and the runs
// of each task, as intervals, never overlap. A run without an end was
// killed with serve (Pdeathsig): it ended at the next kill.
func checkRuns(srv *server, rep *Report) {
	journal, err := simulator.ReadJournal(filepath.Join(srv.dir, "data", "simulator", "state.json"))
	if err != nil {
		rep.fail("journal: %v", err)
		return
	}
	for _, o := range simulator.Overlaps(journal) {
		rep.fail("task %s ran twice at once (journal overlap entry)", o)
	}
	byKey := map[string]*run{}
	var runs []*run
	for _, e := range journal {
		key := e.TaskID + "/" + strconv.Itoa(e.PID)
		switch e.Event {
		case "start":
			r := &run{task: e.TaskID, pid: e.PID, start: e.Time}
			byKey[key] = r
			runs = append(runs, r)
		case "end":
			if r := byKey[key]; r != nil {
				r.end = e.Time
			}
		}
	}
	perTask := map[string][]*run{}
	for _, r := range runs {
		if r.end.IsZero() {
			i, _ := slices.BinarySearchFunc(srv.kills, r.start, func(k, t time.Time) int { return k.Compare(t) })
			if i == len(srv.kills) {
				rep.fail("run of task %s (pid %d) started %s and never ended", r.task, r.pid, r.start.Format(time.RFC3339Nano))
				continue
			}
			r.end = srv.kills[i]
		}
		perTask[r.task] = append(perTask[r.task], r)
	}
	rep.Runs = len(runs)
	for id, rs := range perTask {
		slices.SortFunc(rs, func(a, b *run) int { return a.start.Compare(b.start) })
		for i := 1; i < len(rs); i++ {
			if rs[i].start.Before(rs[i-1].end) {
				rep.fail("task %s: run of pid %d started at %s before the run of pid %d ended at %s", id, rs[i].pid,
					rs[i].start.Format(time.RFC3339Nano), rs[i-1].pid, rs[i-1].end.Format(time.RFC3339Nano))
			}
		}
		rep.Reruns += len(rs) - 1
	}
}

// checkStream: the event stream holds every sequence from 1 to its last,
// and the views folded all of them (lag 0) without a failure.
func checkStream(ctx context.Context, srv *server, cl *api, rep *Report) error {
	nc, err := eventstore.Dial(eventstore.DialConfig{URL: srv.natsURL(), NkeyFile: srv.natsKey(), Name: "chaos"})
	if err != nil {
		return err
	}
	defer nc.Close()
	store, err := eventstore.NewStore(nc)
	if err != nil {
		return err
	}
	st, err := store.JetStream().Stream(ctx, events.EventsStream.Name)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	s := info.State
	rep.Events = s.LastSeq
	if s.FirstSeq != 1 || s.NumDeleted != 0 || s.Msgs != s.LastSeq {
		rep.fail("the event stream has holes: first %d, last %d, %d messages, %d deleted", s.FirstSeq, s.LastSeq, s.Msgs, s.NumDeleted)
	}
	deadline := time.Now().Add(30 * time.Second)
	var failures float64
wait:
	for {
		lag, f, err := metrics(ctx, srv)
		if err != nil {
			return err
		}
		failures = f
		if lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			rep.fail("the views are %v events behind the stream", lag)
			break
		}
		select {
		case <-ctx.Done():
			rep.fail("the views are %v events behind the stream when the wait was over: %v", lag, ctx.Err())
			break wait
		case <-time.After(100 * time.Millisecond):
		}
	}
	if failures != 0 {
		rep.fail("the views could not apply %v events (see the serve logs)", failures)
	}
	return nil
}

// metrics reads the lag and the apply failures of the PROV_EVENTS views.
func metrics(ctx context.Context, srv *server) (lag, failures float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.url()+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `stream="PROV_EVENTS"`) {
			continue
		}
		fields := strings.Fields(line)
		v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
		switch {
		case strings.HasPrefix(line, "projection_lag_events"):
			lag = v
		case strings.HasPrefix(line, "projection_apply_failures_total"):
			failures = v
		}
	}
	return lag, failures, sc.Err()
}

// checkReplay runs `provisioning replay` against the running service
// (views and API), then against its data directory once it has stopped.
func checkReplay(ctx context.Context, cfg Config, srv *server, cl *api, rep *Report) {
	cl.mu.Lock()
	token := cl.token
	cl.mu.Unlock()
	if out, err := replay(ctx, cfg, "--nats-url", srv.natsURL(), "--nats-nkey", srv.natsKey(), "--orchestrator", srv.url(), "--token", token); err != nil {
		rep.fail("replay of the running service: %v\n%s", err, out)
	}
	if err := srv.stop(); err != nil {
		rep.fail("%v", err)
		return
	}
	if out, err := replay(ctx, cfg, "--data-dir", filepath.Join(srv.dir, "data")); err != nil {
		rep.fail("replay of the stopped service's data: %v\n%s", err, out)
	}
}

func replay(ctx context.Context, cfg Config, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, cfg.Binary, append([]string{"replay"}, args...)...)
	out, err := cmd.CombinedOutput()
	logf(cfg.Log, "chaos: replay %s: %s", strings.Join(args[:2], " "), firstLine(out))
	return string(out), err
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.LastIndex(strings.TrimSpace(s), "\n"); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return strings.TrimSpace(s)
}

// printReport writes every submission's outcome and the figures.
func printReport(w io.Writer, rep Report) {
	counts := map[string]int{}
	for _, s := range rep.Submissions {
		state := "lost"
		switch {
		case s.CheckError != "":
			state = "unchecked (" + s.CheckError + ")"
		case s.Answer == Acknowledged && s.Present:
			state = "ok"
		case s.Answer == Refused:
			state = fmt.Sprintf("refused (%d)", s.Status)
		case s.Answer == Unknown && s.Present:
			state = "unknown (stored)"
		case s.Answer == Unknown:
			state = "unknown (not stored)"
		}
		counts[strings.Fields(state)[0]]++
		fmt.Fprintf(w, "  %-8s %-24s %-26s %s\n", s.Kind, s.Name, s.ID, state)
	}
	fmt.Fprintf(w, "chaos report (seed %d):\n", rep.Seed)
	fmt.Fprintf(w, "  submissions: %d ok, %d lost, %d unknown, %d refused, %d unchecked\n", counts["ok"], counts["lost"], counts["unknown"], counts["refused"], counts["unchecked"])
	fmt.Fprintf(w, "  %d SIGKILLs; restart to healthy:", rep.Kills)
	for _, d := range rep.Recovery {
		fmt.Fprintf(w, " %s", d.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\n  %d tasks, %d runs of their commands (%d again after a kill), %d events, %s in all\n",
		rep.Tasks, rep.Runs, rep.Reruns, rep.Events, rep.Duration.Round(time.Second))
	fmt.Fprintln(w, "  power loss was not simulated: a SIGKILL loses what the process held, not what the kernel had")
	if rep.OK() {
		fmt.Fprintln(w, "  PASS: nothing acknowledged was lost, every task ended, no task ran twice at once, the views folded every event, replay equals the live views")
		return
	}
	for _, f := range rep.Failures {
		fmt.Fprintln(w, "  FAIL:", f)
	}
}
