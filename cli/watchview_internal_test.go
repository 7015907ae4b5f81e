package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/schollz/progressbar/v3"
)

// TestBarsRedrawInPlace: the terminal view draws a header and one bar per
// operation, then moves back over them to redraw.
func TestBarsRedrawInPlace(t *testing.T) {
	var out bytes.Buffer
	v := &barsView{w: &out, p: &printer{w: &out}, bars: map[string]*progressbar.ProgressBar{}}
	st := &watchState{kind: kindBatch, id: "b1", name: "deploy", status: "Running", byID: map[string]*opState{}}
	a, b := st.op("upcloud_servers"), st.op("aws_taskservs")
	a.status, a.progress, a.step = "Running", 40, "Installing Kubernetes"
	b.status = "Pending"
	v.render(st)
	first := out.String()
	if strings.Contains(first, "\x1b[3A") || !strings.Contains(first, "40%") || !strings.Contains(first, "Installing Kubernetes") ||
		!strings.Contains(first, "batch b1 (deploy)") || strings.Count(first, "\n") != 3 {
		t.Fatalf("first frame:\n%q", first)
	}
	out.Reset()
	a.progress, a.status = 100, "Completed"
	v.render(st)
	if second := out.String(); !strings.HasPrefix(second, "\x1b[3A") || !strings.Contains(second, "100%") {
		t.Errorf("second frame:\n%q", second)
	}
}
