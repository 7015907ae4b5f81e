package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// printer writes a command's result: a table (or key/value lines) by
// default, JSON with -o json.
type printer struct {
	w     io.Writer
	json  bool
	color bool
}

// JSON writes v indented, one document.
func (p *printer) JSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under headers with aligned columns. Widths are
// measured on the plain text, so colour codes never break alignment.
func (p *printer) table(headers []string, rows [][]string) {
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	line := func(cells []string, style func(col int, s string) string) {
		var b strings.Builder
		for i, cell := range cells {
			pad := ""
			if i < len(cells)-1 {
				pad = strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+2)
			}
			b.WriteString(style(i, cell) + pad)
		}
		fmt.Fprintln(p.w, strings.TrimRight(b.String(), " "))
	}
	line(headers, func(_ int, s string) string { return p.paint(s, bold) })
	statusCol := -1
	for i, h := range headers {
		if h == "STATUS" || h == "RESULT" {
			statusCol = i
		}
	}
	for _, r := range rows {
		line(r, func(col int, s string) string {
			if col == statusCol {
				return p.status(s)
			}
			return s
		})
	}
}

// fields writes "key: value" lines, keys aligned.
func (p *printer) fields(kv [][2]string) {
	width := 0
	for _, f := range kv {
		width = max(width, len(f[0]))
	}
	for _, f := range kv {
		v := f[1]
		if f[0] == "Status" || f[0] == "Result" {
			v = p.status(v)
		}
		fmt.Fprintf(p.w, "%s %s%s\n", p.paint(f[0]+":", bold), strings.Repeat(" ", width-len(f[0])), v)
	}
}

// ANSI styles.
const (
	bold   = "1"
	red    = "31"
	green  = "32"
	yellow = "33"
	blue   = "34"
	grey   = "90"
)

func (p *printer) paint(s, style string) string {
	if !p.color || s == "" {
		return s
	}
	return "\x1b[" + style + "m" + s + "\x1b[0m"
}

// status colours a status by what it means.
func (p *printer) status(s string) string {
	return p.paint(s, statusStyle(s))
}

func statusStyle(s string) string {
	switch strings.ToLower(s) {
	case "completed", "success", "healthy", "delivered":
		return green
	case "failed", "failure", "denied", "rolledback", "unhealthy":
		return red
	case "running", "retrying":
		return blue
	case "pending", "cancelled", "skipped":
		return yellow
	}
	return ""
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Cell formats.

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return when(*t)
}

func pct(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) + "%" }

func str(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func elapsed(start, end *time.Time) string {
	if start == nil {
		return "-"
	}
	stop := time.Now()
	if end != nil {
		stop = *end
	}
	return stop.Sub(*start).Round(time.Second).String()
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// more tells on stderr that a list goes on past the page shown.
func (a *app) more(total, offset, shown int) {
	if total > offset+shown {
		fmt.Fprintf(a.env.Stderr, "showing %d-%d of %d; --offset %d for the next page, or --all\n", offset+1, offset+shown, total, offset+shown)
	}
}
