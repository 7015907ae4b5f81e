package replay

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"provisioning/eventstore"
	"provisioning/projections"
)

// Exit codes of Main.
const (
	ExitEqual       = 0 // every comparison found the views equal
	ExitDifferent   = 1 // a comparison found differences
	ExitUsage       = 2
	ExitUnavailable = 3 // the streams could not be read
)

// Usage is the command's help.
const Usage = `provisioning replay: rebuild every view of the event stream from scratch and compare

Usage:
  provisioning replay [--data-dir DIR | --nats-url URL --nats-nkey FILE] [--orchestrator URL --token TOKEN] [-o table|json]
  provisioning replay --until-seq N | --until-time RFC3339 [-o table|json]

Without --until-*, the stream is folded from its first event into fresh
views, which are compared with the views a live instance holds (loaded
from the latest snapshots, caught up to the same position) and, with
--orchestrator, with what that instance's API answers for tasks and
batches (read while the stream does not move). Differences are printed;
the exit code is 1 when there are any.

With --until-seq or --until-time, the tasks and batches are shown as they
were at that position.

--data-dir opens the data directory's embedded NATS server: the service
must be stopped. While it runs, start it with --nats-listen and give that
address as --nats-url and its DIR/nats.nk as --nats-nkey. The token may
come from PROVISIONING_TOKEN.
`

type options struct {
	dial         eventstore.DialConfig
	dataDir      string
	orchestrator string
	token        string
	untilSeq     uint64
	untilTime    string
	output       string
}

// Main runs `provisioning replay args...` and returns its exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitEqual
	}
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUsage
	}
	nc, closeConn, err := o.connect()
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUnavailable
	}
	defer closeConn()
	store, err := eventstore.NewStore(nc)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUnavailable
	}
	src, err := NewSource(ctx, store)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUnavailable
	}
	if o.untilSeq > 0 || o.untilTime != "" {
		return o.showUntil(ctx, src, stdout, stderr)
	}
	return o.compare(ctx, src, stdout, stderr)
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage); fs.PrintDefaults() }
	fs.StringVar(&o.dataDir, "data-dir", "./data", "data directory of a stopped `serve` (its embedded NATS server)")
	fs.StringVar(&o.dial.URL, "nats-url", "", "read from this NATS deployment (comma-separated URLs) instead of --data-dir")
	fs.StringVar(&o.dial.CredsFile, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&o.dial.NkeyFile, "nats-nkey", "", "NATS nkey seed file (the nats.nk a serve with --nats-listen writes into its data dir)")
	fs.StringVar(&o.dial.TLSCA, "nats-ca", "", "CA certificate to verify NATS servers")
	fs.StringVar(&o.dial.TLSCert, "nats-cert", "", "client certificate for NATS")
	fs.StringVar(&o.dial.TLSKey, "nats-key", "", "client key for NATS")
	fs.StringVar(&o.orchestrator, "orchestrator", "", "also compare with this orchestrator's API (base URL)")
	fs.StringVar(&o.token, "token", getenv("PROVISIONING_TOKEN"), "token for --orchestrator (default $PROVISIONING_TOKEN)")
	fs.Uint64Var(&o.untilSeq, "until-seq", 0, "show the state as it was after this stream sequence")
	fs.StringVar(&o.untilTime, "until-time", "", "show the state as it was at this time (RFC 3339)")
	fs.StringVar(&o.output, "o", "table", "output: table or json")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.output != "table" && o.output != "json":
		return o, fmt.Errorf("-o %q: want table or json", o.output)
	case o.untilSeq > 0 && o.untilTime != "":
		return o, errors.New("give --until-seq or --until-time, not both")
	case o.orchestrator != "" && o.token == "":
		return o, errors.New("--orchestrator needs --token (or PROVISIONING_TOKEN)")
	case o.orchestrator != "" && (o.untilSeq > 0 || o.untilTime != ""):
		return o, errors.New("--orchestrator compares the present; it does not go with --until-*")
	}
	if o.untilTime != "" {
		if _, err := time.Parse(time.RFC3339Nano, o.untilTime); err != nil {
			return o, fmt.Errorf("--until-time %q: want an RFC 3339 time such as 2025-09-26T10:00:00Z", o.untilTime)
		}
	}
	o.dial.Name = "provisioning replay"
	return o, nil
}

// connect reaches the deployment: --nats-url, or an embedded server on
// the data directory, which it locks.
func (o options) connect() (*nats.Conn, func(), error) {
	if o.dial.URL != "" {
		nc, err := eventstore.Dial(o.dial)
		if err != nil {
			return nil, nil, err
		}
		return nc, nc.Close, nil
	}
	natsDir := filepath.Join(o.dataDir, "nats")
	if _, err := os.Stat(natsDir); err != nil {
		return nil, nil, fmt.Errorf("no event store in %s: %w", o.dataDir, err)
	}
	unlock, err := eventstore.LockDataDir(o.dataDir)
	if errors.Is(err, eventstore.ErrDataDirInUse) {
		return nil, nil, fmt.Errorf("%w: stop the service, or start it with --nats-listen and give that address as --nats-url (and %s as --nats-nkey)", err, filepath.Join(o.dataDir, eventstore.ClientKeyFile))
	}
	if err != nil {
		return nil, nil, err
	}
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: natsDir, Sync: "always"})
	if err != nil {
		unlock()
		return nil, nil, err
	}
	nc, err := eventstore.DialInProcess(srv, o.dial.Name)
	if err != nil {
		srv.Shutdown()
		unlock()
		return nil, nil, err
	}
	return nc, func() {
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
		unlock()
	}, nil
}

// Report is what a comparison found (the -o json output).
type Report struct {
	Seq          uint64         `json:"seq"`
	Seconds      float64        `json:"replay_seconds"`
	EventsPerSec float64        `json:"events_per_second"`
	NotApplied   int            `json:"events_not_applied"`
	Counts       map[string]int `json:"counts"`
	Live         []LiveStart    `json:"live"`
	APISeq       uint64         `json:"api_seq,omitempty"`
	Differences  []Difference   `json:"differences"`
}

func (o options) compare(ctx context.Context, src *Source, stdout, stderr io.Writer) int {
	last, err := src.Last(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUnavailable
	}
	live, starts, reached, liveFailures, err := src.Live(ctx, last)
	if err != nil {
		fmt.Fprintln(stderr, "replay: live views:", err)
		return ExitUnavailable
	}
	began := time.Now()
	fresh, failures, err := src.Rebuild(ctx, reached)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUnavailable
	}
	rep := Report{Seq: reached, Seconds: time.Since(began).Seconds(), NotApplied: failures, Live: starts}
	if rep.Seconds > 0 {
		rep.EventsPerSec = float64(reached) / rep.Seconds
	}
	if rep.Differences, rep.Counts, err = compareCounting(fresh, live, "replay", "live"); err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUnavailable
	}
	if liveFailures != failures {
		rep.Differences = append(rep.Differences, Difference{View: "runner", ID: "failures",
			What: fmt.Sprintf("the replay could not apply %d events, the live views %d", failures, liveFailures)})
	}
	if o.orchestrator != "" {
		// fresh is not used after this: CompareAPI folds it on.
		diffs, seq, err := CompareAPI(ctx, src, API{Base: o.orchestrator, Token: o.token}, fresh, reached)
		if err != nil {
			fmt.Fprintln(stderr, "replay: api:", err)
			return ExitUnavailable
		}
		rep.APISeq = seq
		rep.Differences = append(rep.Differences, diffs...)
	}
	if o.output == "json" {
		if rep.Differences == nil {
			rep.Differences = []Difference{}
		}
		writeJSON(stdout, rep)
	} else {
		o.printReport(stdout, rep)
	}
	if len(rep.Differences) > 0 {
		return ExitDifferent
	}
	return ExitEqual
}

func (o options) printReport(w io.Writer, rep Report) {
	fmt.Fprintf(w, "replayed PROV_EVENTS up to seq %d from scratch in %.2fs (%.0f events/s); events not applied: %d\n",
		rep.Seq, rep.Seconds, rep.EventsPerSec, rep.NotApplied)
	fmt.Fprintf(w, "views: %d tasks, %d batches, %d rollbacks, %d checkpoints\n",
		rep.Counts["tasks"], rep.Counts["batches"], rep.Counts["rollbacks"], rep.Counts["checkpoints"])
	var from []string
	for _, s := range rep.Live {
		switch {
		case s.Problem != "":
			from = append(from, fmt.Sprintf("%s rebuilt (snapshot not used: %s)", s.View, s.Problem))
		case s.Seq == 0:
			from = append(from, s.View+" from the start (no snapshot)")
		default:
			from = append(from, fmt.Sprintf("%s from its snapshot at seq %d", s.View, s.Seq))
		}
	}
	fmt.Fprintf(w, "live views: %s; caught up to seq %d\n", strings.Join(from, ", "), rep.Seq)
	if o.orchestrator != "" {
		fmt.Fprintf(w, "api %s read at seq %d\n", o.orchestrator, rep.APISeq)
	}
	if len(rep.Differences) == 0 {
		fmt.Fprintln(w, "no differences: the live views equal the replay")
		return
	}
	for _, d := range rep.Differences {
		fmt.Fprintln(w, "DIFFERENT", d)
	}
	fmt.Fprintf(w, "%d differences\n", len(rep.Differences))
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Then is the state at an earlier position (the -o json output of
// --until-*).
type Then struct {
	Seq     uint64                  `json:"seq"`
	Time    *time.Time              `json:"time,omitempty"`
	Tasks   any                     `json:"tasks"`
	Batches []projections.BatchView `json:"batches"`
}

func (o options) showUntil(ctx context.Context, src *Source, stdout, stderr io.Writer) int {
	seq := o.untilSeq
	var at *time.Time
	if o.untilTime != "" {
		t, _ := time.Parse(time.RFC3339Nano, o.untilTime)
		at = &t
		var err error
		if seq, err = src.SeqAt(ctx, t); err != nil {
			fmt.Fprintln(stderr, "replay:", err)
			return ExitUnavailable
		}
	}
	last, err := src.Last(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return ExitUnavailable
	}
	if seq > last {
		fmt.Fprintf(stderr, "replay: --until-seq %d is past the stream's last sequence %d\n", seq, last)
		return ExitUsage
	}
	v := NewViews()
	if seq > 0 {
		if v, _, err = src.Rebuild(ctx, seq); err != nil {
			fmt.Fprintln(stderr, "replay:", err)
			return ExitUnavailable
		}
	}
	tasks, _ := v.Tasks.List(projections.TaskFilter{}, 0, int(^uint(0)>>1))
	batches, _ := v.Batches.List(projections.BatchFilter{}, 0, int(^uint(0)>>1))
	if o.output == "json" {
		writeJSON(stdout, Then{Seq: seq, Time: at, Tasks: tasks, Batches: batches})
		return ExitEqual
	}
	fmt.Fprintf(stdout, "state after seq %d: %d tasks, %d batches\n\n", seq, len(tasks), len(batches))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tNAME\tSTATUS\tCREATED\tBATCH")
	for _, t := range tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Status, t.CreatedAt.Format(time.RFC3339), dash(t.BatchID))
	}
	tw.Flush()
	if len(batches) > 0 {
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "BATCH\tNAME\tSTATUS\tPROGRESS\tTASKS")
		for _, b := range batches {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f%%\t%d/%d\n", b.BatchID, b.Name, b.Status, b.Progress, b.CompletedTasks, b.TotalTasks)
		}
		tw.Flush()
	}
	return ExitEqual
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
