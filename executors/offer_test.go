package executors

import (
	"fmt"
	"strings"
	"testing"
)

// offer never waits for the reporter and keeps only the newest line: the
// goroutine copying stdout must not stop while an append is slow.
func TestOfferKeepsTheNewestLineWithoutWaiting(t *testing.T) {
	x := &execution{progress: make(chan Progress, 1)}
	for i := 1; i <= 100; i++ {
		x.offer(Progress{Percent: float64(i)})
	}
	if got := <-x.progress; got.Percent != 100 {
		t.Fatalf("kept %v, want the newest (100)", got.Percent)
	}
	select {
	case p := <-x.progress:
		t.Fatalf("a second line %v was kept", p)
	default:
	}
}

// The output kept is the last OutputLimit bytes, whatever the lines.
func TestOutputTailKeepsTheLastBytes(t *testing.T) {
	w := &lineWriter{tail: tailBuffer{limit: 250}}
	for i := range 40 {
		fmt.Fprintf(w, "line %02d %s\n", i, strings.Repeat("x", 90))
	}
	got := w.tail.String()
	if len(got) > 250 || !strings.HasSuffix(got, "line 39 "+strings.Repeat("x", 90)) || strings.Contains(got, "line 37") {
		t.Fatalf("tail of %d bytes: %q", len(got), got)
	}
}
