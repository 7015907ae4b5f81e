package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"

	"provisioning/client"
)

// watchView shows a watch: bars on a terminal, a line per event
// otherwise, JSON lines with -o json.
type watchView interface {
	// render redraws the current state (bars only).
	render(st *watchState)
	// event shows one event that changed the state.
	event(st *watchState, ev client.Event)
	// finish shows the end and returns the watch's result.
	finish(st *watchState) error
}

func (a *app) newView(st *watchState) watchView {
	switch {
	case a.out.json:
		return &jsonView{w: a.env.Stdout}
	case isTerminal(a.env.Stdout):
		return &barsView{w: a.env.Stdout, p: a.out, bars: map[string]*progressbar.ProgressBar{}}
	}
	return &linesView{w: a.env.Stdout, p: a.out}
}

func what(st *watchState) string {
	if st.kind == kindTask {
		return "task"
	}
	return "batch"
}

// summary is the last line of a watch.
func summary(p *printer, st *watchState) string {
	s := fmt.Sprintf("%s %s (%s) %s after %s", what(st), st.id, st.name, p.status(st.status),
		time.Since(st.started).Round(time.Second))
	if st.errMsg != "" && st.status != client.StatusCompleted {
		s += ": " + st.errMsg
	}
	return s
}

// linesView prints one line per event, for logs and pipes.
type linesView struct {
	w io.Writer
	p *printer
}

func (v *linesView) render(*watchState) {}

func (v *linesView) event(st *watchState, ev client.Event) {
	fmt.Fprintf(v.w, "%s %s %s\n", ev.Timestamp.Local().Format("15:04:05"), ev.Type, describeOps(v.p, st))
}

func (v *linesView) finish(st *watchState) error {
	fmt.Fprintln(v.w, summary(v.p, st))
	return st.result()
}

// describeOps is the state in one line: op status progress [step]; ...
func describeOps(p *printer, st *watchState) string {
	parts := make([]string, len(st.ops))
	for i, op := range st.ops {
		s := fmt.Sprintf("%s %s %s", op.id, p.status(orDash(op.status)), pct(op.progress))
		if op.step != "" {
			s += " " + op.step
		}
		parts[i] = s
	}
	return strings.Join(parts, "; ")
}

// jsonView prints every event as a JSON line, then the result.
type jsonView struct{ w io.Writer }

func (v *jsonView) render(*watchState) {}

func (v *jsonView) event(_ *watchState, ev client.Event) {
	b, _ := json.Marshal(ev)
	fmt.Fprintln(v.w, string(b))
}

func (v *jsonView) finish(st *watchState) error {
	b, _ := json.Marshal(map[string]any{"id": st.id, "kind": what(st), "name": st.name, "status": st.status,
		"error": st.errMsg, "completed": st.status == client.StatusCompleted})
	fmt.Fprintln(v.w, string(b))
	return st.result()
}

// barsView redraws a header and a progress bar per operation in place.
type barsView struct {
	w     io.Writer
	p     *printer
	bars  map[string]*progressbar.ProgressBar
	lines int // lines drawn last time, to move back over them
}

func (v *barsView) bar(op *opState) *progressbar.ProgressBar {
	b, ok := v.bars[op.id]
	if !ok {
		b = progressbar.NewOptions(100,
			progressbar.OptionSetWriter(io.Discard), // drawn by the view, several at once
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(0),
			progressbar.OptionEnableColorCodes(v.p.color),
		)
		_ = b.RenderBlank()
		v.bars[op.id] = b
	}
	return b
}

func (v *barsView) event(st *watchState, _ client.Event) { v.render(st) }

func (v *barsView) render(st *watchState) {
	width := 0
	for _, op := range st.ops {
		width = max(width, utf8.RuneCountInString(op.id))
	}
	lines := []string{v.p.paint(fmt.Sprintf("%s %s (%s)", what(st), st.id, st.name), bold) + "  " + v.p.status(st.status) +
		fmt.Sprintf("  %s", time.Since(st.started).Round(time.Second))}
	for _, op := range st.ops {
		b := v.bar(op)
		if int64(op.progress) != b.State().CurrentNum {
			_ = b.Set(int(op.progress))
		}
		_ = b.RenderBlank() // refreshes the elapsed and remaining time
		status := fmt.Sprintf("%-10s", orDash(op.status))
		line := fmt.Sprintf("  %s%s  %s %s", op.id, strings.Repeat(" ", width-utf8.RuneCountInString(op.id)),
			v.p.status(status), strings.TrimSpace(strings.TrimPrefix(b.String(), "\r")))
		if op.step != "" {
			line += "  " + v.p.paint(op.step, grey)
		}
		lines = append(lines, line)
	}
	var out strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&out, "\x1b[%dA", v.lines)
	}
	for _, l := range lines {
		out.WriteString("\r\x1b[2K" + l + "\n")
	}
	v.lines = len(lines)
	_, _ = io.WriteString(v.w, out.String())
}

func (v *barsView) finish(st *watchState) error {
	v.render(st)
	fmt.Fprintln(v.w, summary(v.p, st))
	return st.result()
}
