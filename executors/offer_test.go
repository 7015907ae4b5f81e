package executors

import "testing"

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
