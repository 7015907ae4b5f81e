package bench_test

import (
	"context"
	"testing"

	"provisioning/bench"
)

// TestSmallReplay runs the replay benchmark at a small size: the rates
// are measured and the view holds every task written.
func TestSmallReplay(t *testing.T) {
	t.Parallel()
	res, err := bench.Replay(context.Background(), bench.ReplayOptions{Events: 20_003})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tasks != 4001 || res.FoldRate <= 0 || res.RawRate <= 0 || res.WriteRate <= 0 {
		t.Fatalf("%+v", res)
	}
}
