package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one figure of the table.
type Row struct {
	Section      string  `json:"section"`
	Setup        string  `json:"setup"` // "1 node" or "3-node cluster", plus the sync mode
	Name         string  `json:"name"`
	Unit         string  `json:"unit"`
	Value        float64 `json:"value"`
	Baseline     float64 `json:"baseline,omitempty"`
	BaselineName string  `json:"baseline_name,omitempty"`
	Target       string  `json:"target,omitempty"`
	Met          *bool   `json:"met,omitempty"`
}

// Ratio is Value over Baseline, 0 without a baseline.
func (r Row) Ratio() float64 {
	if r.Baseline == 0 {
		return 0
	}
	return r.Value / r.Baseline
}

// Report is a run's table.
type Report struct {
	Started time.Time `json:"started"`
	Machine string    `json:"machine"`
	Rows    []Row     `json:"rows"`
}

// NewReport starts a report naming this machine.
func NewReport() *Report {
	return &Report{Started: time.Now().UTC(), Machine: Machine()}
}

// Add appends rows and prints them at once to w.
func (r *Report) Add(w io.Writer, rows ...Row) {
	r.Rows = append(r.Rows, rows...)
	for _, row := range rows {
		fmt.Fprintf(w, "  %-52s %12s %-8s baseline %12s (%s) ratio %s  %s\n", row.Setup+": "+row.Name, num(row.Value), row.Unit,
			num(row.Baseline), row.BaselineName, ratio(row), verdict(row))
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func ratio(r Row) string {
	if r.Baseline == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r.Ratio())
}

func verdict(r Row) string {
	if r.Met == nil {
		return r.Target
	}
	if *r.Met {
		return "target " + r.Target + ": met"
	}
	return "target " + r.Target + ": NOT met"
}

// Met records whether a target holds.
func Met(ok bool) *bool { return &ok }

// Machine describes where the figures come from.
func Machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
	}
	return fmt.Sprintf("%s, %d cores%s, %s %s/%s", model, runtime.NumCPU(), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Write stores the report as results.json and results.md under dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.Markdown()), 0o644)
}

// Markdown renders the table.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s.\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Machine)
	b.WriteString("| section | setup | figure | value | baseline (same run) | ratio | target |\n|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		base := "-"
		if row.Baseline != 0 {
			base = num(row.Baseline) + " " + row.Unit + " (" + row.BaselineName + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s %s | %s | %s | %s |\n", row.Section, row.Setup, row.Name, num(row.Value), row.Unit, base, ratio(row), verdict(row))
	}
	return b.String()
}

// Print writes the table in columns.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tSETUP\tFIGURE\tVALUE\tBASELINE\tRATIO\tTARGET")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s %s\t%s\t%s\n", row.Section, row.Setup, row.Name, num(row.Value), row.Unit, num(row.Baseline), row.BaselineName, ratio(row), verdict(row))
	}
	tw.Flush()
}
