// Package chaos checks that the real binary loses nothing it acknowledged
// when it is killed: it runs `provisioning serve`, submits a batch of
// hundreds of tasks, single workflows and a rollback, kills the process
// with SIGKILL at random (seeded, reproducible) moments, starts it again
// each time, then checks the outcome from outside: every acknowledged
// submission is there, every task ended, no task ever ran twice at once,
// the views folded every sequence of the stream, and a replay of the
// stream equals the live views.
//
// A SIGKILL loses what the process held, not what it had handed to the
// kernel: power loss (unsynced writes lost) is not simulated. See the
// README on --sync.
package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"
)

// Config sizes one run. Zero values take the defaults of Default.
type Config struct {
	// Binary is the provisioning binary.
	Binary string
	// Seed makes the run reproducible: the kill times and the order of
	// the submissions follow from it.
	Seed uint64
	// Kills is how many times serve is killed.
	Kills int
	// Uptime bounds how long serve runs between two kills (drawn in
	// [Uptime/4, Uptime]).
	Uptime time.Duration
	// Operations of the batch, ServersPerOperation tasks each.
	Operations, ServersPerOperation int
	// Singles is how many single workflows are submitted during the run.
	Singles int
	// SimSpeed is the simulator's time factor (1: about 15 s a task).
	SimSpeed float64
	// Workers and Sync are serve's --workers and --sync.
	Workers int
	Sync    string
	// Settle bounds the wait for every task to end after the last kill.
	Settle time.Duration
	// Dir keeps the data and the logs (default: a temporary directory,
	// removed after a run that passed).
	Dir string
	// Log receives the progress and the report.
	Log io.Writer
}

// Default is the configuration of `make chaos`.
func Default() Config {
	return Config{Kills: 6, Uptime: 4 * time.Second, Operations: 30, ServersPerOperation: 10, Singles: 120,
		SimSpeed: 0.02, Workers: 8, Sync: "always", Settle: 3 * time.Minute}
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.Kills <= 0 {
		c.Kills = d.Kills
	}
	if c.Uptime <= 0 {
		c.Uptime = d.Uptime
	}
	if c.Operations <= 0 {
		c.Operations = d.Operations
	}
	if c.ServersPerOperation <= 0 {
		c.ServersPerOperation = d.ServersPerOperation
	}
	if c.Singles <= 0 {
		c.Singles = d.Singles
	}
	if c.SimSpeed <= 0 {
		c.SimSpeed = d.SimSpeed
	}
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.Sync == "" {
		c.Sync = d.Sync
	}
	if c.Settle <= 0 {
		c.Settle = d.Settle
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Outcome of one submission, as the client saw it.
const (
	Acknowledged = "ok"      // 2xx with an id
	Refused      = "refused" // an error answer: nothing was promised
	Unknown      = "unknown" // no answer: the client cannot know
)

// Submission is one POST and what became of it.
type Submission struct {
	Kind   string `json:"kind"` // batch, servers, rollback
	Name   string `json:"name"`
	Answer string `json:"answer"`
	Status int    `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	// Present is whether it is there at the end (for an acknowledged
	// submission anything but true is a loss).
	Present bool `json:"present"`
	// CheckError is why Present could not be found out (then the
	// submission is reported as unchecked, not as lost).
	CheckError string `json:"check_error,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Seed        uint64          `json:"seed"`
	Kills       int             `json:"kills"`
	Recovery    []time.Duration `json:"recovery"`
	Submissions []Submission    `json:"submissions"`
	Tasks       int             `json:"tasks"`
	Runs        int             `json:"runs"`
	Reruns      int             `json:"reruns"`
	Events      uint64          `json:"events"`
	Duration    time.Duration   `json:"duration"`
	Failures    []string        `json:"failures"`
}

// OK reports whether every check passed.
func (r Report) OK() bool { return len(r.Failures) == 0 }

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// Run does one chaos run and reports it. The error is for a run that
// could not be carried out; failed checks are in the report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	rep := Report{Seed: cfg.Seed}
	began := time.Now()
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "provisioning-chaos-"); err != nil {
			return rep, err
		}
	}
	logf(cfg.Log, "chaos: seed %d, %d kills, batch of %d tasks, %d single workflows, data in %s", cfg.Seed, cfg.Kills,
		cfg.Operations*cfg.ServersPerOperation, cfg.Singles, dir)
	srv, err := newServer(cfg, dir)
	if err != nil {
		return rep, err
	}
	defer srv.stop()
	if err := srv.start(ctx); err != nil {
		return rep, err
	}
	cl := &api{srv: srv, http: &http.Client{Timeout: 20 * time.Second}}
	if err := cl.login(ctx); err != nil {
		return rep, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x636861))
	subs := &submissions{}
	subs.add(submit(ctx, cl, "batch", "chaos", "/batch/execute", chaosBatch(cfg), "batch_id"))

	work, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		submitSingles(work, cl, cfg, subs, rand.New(rand.NewPCG(cfg.Seed, 0x73696e)))
	}()
	for k := 0; k < cfg.Kills; k++ {
		up := cfg.Uptime/4 + time.Duration(rng.Int64N(int64(cfg.Uptime*3/4)))
		select {
		case <-ctx.Done():
			stopWork()
			return rep, ctx.Err()
		case <-time.After(up):
		}
		srv.kill()
		logf(cfg.Log, "chaos: kill %d after %s up", k+1, up.Round(time.Millisecond))
		if err := srv.start(ctx); err != nil {
			stopWork()
			return rep, err
		}
	}
	wg.Wait()
	stopWork()
	rep.Kills, rep.Recovery = len(srv.kills), srv.recovery

	// check bounds the wait for the work by cfg.Settle and gives the
	// checks after it a deadline of their own, both from ctx.
	if err := check(ctx, cfg, cl, srv, subs, &rep); err != nil {
		return rep, err
	}
	rep.Submissions = subs.all()
	rep.Duration = time.Since(began)
	printReport(cfg.Log, rep)
	if rep.OK() && cfg.Dir == "" {
		_ = srv.stop()
		os.RemoveAll(dir)
	}
	return rep, nil
}

type submissions struct {
	mu   sync.Mutex
	list []Submission
}

func (s *submissions) add(sub Submission) {
	s.mu.Lock()
	s.list = append(s.list, sub)
	s.mu.Unlock()
}

func (s *submissions) all() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Submission(nil), s.list...)
}

// submit POSTs once and records what the client saw; idField names the
// id in an object answer ("" when the data is the id itself).
func submit(ctx context.Context, cl *api, kind, name, path string, body any, idField string) Submission {
	sub := Submission{Kind: kind, Name: name}
	ans, err := cl.do(ctx, http.MethodPost, path, body)
	if err == nil && ans.status == http.StatusUnauthorized {
		if cl.login(ctx) == nil {
			ans, err = cl.do(ctx, http.MethodPost, path, body)
		}
	}
	switch {
	case err != nil:
		sub.Answer = Unknown
	case ans.status >= 200 && ans.status < 300:
		sub.Answer, sub.Status = Acknowledged, ans.status
		if idField == "" {
			_ = json.Unmarshal(ans.data, &sub.ID)
		} else {
			var m map[string]any
			_ = json.Unmarshal(ans.data, &m)
			sub.ID, _ = m[idField].(string)
		}
	default:
		sub.Answer, sub.Status = Refused, ans.status
	}
	return sub
}

// submitSingles submits the single workflows spread over the run, and
// halfway a rollback of the first ones that completed.
func submitSingles(ctx context.Context, cl *api, cfg Config, subs *submissions, rng *rand.Rand) {
	total := time.Duration(cfg.Kills) * cfg.Uptime * 5 / 8
	every := total / time.Duration(cfg.Singles)
	var acked []string
	rolledBack := false
	for i := 0; i < cfg.Singles; i++ {
		infra := fmt.Sprintf("single-%03d", i)
		if rng.IntN(10) == 0 {
			infra = "fail-" + infra // the simulator fails these at random
		}
		sub := submit(ctx, cl, "servers", infra, "/workflows/servers/create", map[string]any{"infra": infra, "wait": true}, "")
		subs.add(sub)
		if sub.Answer == Acknowledged {
			acked = append(acked, sub.ID)
		}
		if !rolledBack && i >= cfg.Singles/2 && len(acked) >= 5 {
			rolledBack = rollback(ctx, cl, subs, acked[:5])
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// rollback starts a rollback of the tasks among ids that completed
// (without waiting for it); it reports whether it was submitted.
func rollback(ctx context.Context, cl *api, subs *submissions, ids []string) bool {
	var done []string
	for _, id := range ids {
		var t task
		ans, err := cl.do(ctx, http.MethodGet, "/tasks/"+id, nil)
		if err != nil || ans.status != http.StatusOK || json.Unmarshal(ans.data, &t) != nil {
			return false
		}
		if t.Status == "Completed" {
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return false
	}
	subs.add(submit(ctx, cl, "rollback", fmt.Sprintf("%d tasks", len(done)), "/rollback/execute?wait=0", map[string]any{"operation_ids": done}, "rollback_id"))
	return true
}

// chaosBatch is a batch of Operations server batches, each depending on
// one or two of the three before it.
func chaosBatch(cfg Config) map[string]any {
	ops := make([]map[string]any, cfg.Operations)
	for i := range ops {
		servers := make([]map[string]string, cfg.ServersPerOperation)
		for k := range servers {
			servers[k] = map[string]string{"name": fmt.Sprintf("op%02d-srv%02d", i, k)}
		}
		var deps []string
		if i > 0 {
			deps = append(deps, fmt.Sprintf("op%02d", i-1))
		}
		if i > 2 && i%3 == 0 {
			deps = append(deps, fmt.Sprintf("op%02d", i-3))
		}
		ops[i] = map[string]any{"id": fmt.Sprintf("op%02d", i), "type": "server_batch", "dependencies": deps, "server_configs": servers}
	}
	return map[string]any{"name": "chaos", "parallel_limit": 20, "operations": ops}
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
