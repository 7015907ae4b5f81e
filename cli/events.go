package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"provisioning/client"
)

func runEvents(a *app, args []string) error {
	return a.subcommand("events", args, map[string]func(*app, []string) error{
		"tail": runEventsTail,
	})
}

// runEventsTail follows the event stream: one line per event, or the
// frames as JSON lines with -o json, until interrupted or -n events.
func runEventsTail(a *app, args []string) error {
	fs := a.flags("events tail", "events tail [--since SEQ] [--type TYPE]... [--task ID] [--batch ID] [-n COUNT]")
	since := fs.Uint64("since", 0, "replay from this stream sequence, then follow (0: only new events)")
	var types listFlag
	fs.Var(&types, "type", "only these event types (repeat, or comma-separated): TaskStatusChanged, TaskProgress, ...")
	task := fs.String("task", "", "only the events of this task")
	batch := fs.String("batch", "", "only the events of this batch")
	count := fs.Int("n", 0, "stop after this many events (0: follow until interrupted)")
	if _, err := a.parse(fs, args, 0); err != nil {
		return err
	}
	opts := client.SubscribeOptions{Events: types, TaskID: *task, BatchID: *batch, Since: *since, Resume: true}
	sub, err := a.client.Subscribe(a.ctx, opts)
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			return &exitError{code: ExitUnavailable, err: fmt.Errorf("the orchestrator has no event stream: %s/ws answered 404 (%s)", a.server, apiMessage(err))}
		}
		return err
	}
	defer sub.Close()
	for n := 0; *count == 0 || n < *count; n++ {
		ev, err := sub.Next(a.ctx)
		if err != nil {
			return err
		}
		if a.out.json {
			b, _ := json.Marshal(ev)
			fmt.Fprintln(a.env.Stdout, string(b))
			continue
		}
		fmt.Fprintf(a.env.Stdout, "%-8d %s  %-22s %s\n", ev.Seq, ev.Timestamp.Local().Format("2006-01-02 15:04:05"),
			a.out.paint(ev.Type, bold), flatten(a.out, ev.Data))
	}
	return nil
}

// flatten shows an event's data as key=value pairs, statuses coloured.
func flatten(p *printer, data json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return string(data)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		var v string
		switch x := m[k].(type) {
		case string:
			v = x
			if k == "status" {
				v = p.status(x)
			}
		case nil:
			continue
		default:
			b, _ := json.Marshal(x)
			v = string(b)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}
