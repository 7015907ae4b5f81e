package bench

import "testing"

func TestParseGoBenchmarks(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkUnprotectedHandler-2   	 2811830	       422.0 ns/op	     912 B/op	       5 allocs/op
BenchmarkAccessMiddleware/role+cel-deny-policy-2         	  600000	      1580 ns/op	    2100 B/op	      31 allocs/op
BenchmarkLoginArgon2id-2   	      60	  18500000 ns/op	        54.10 logins/s	         2.000 hash-slots	20000000 B/op	      40 allocs/op
BenchmarkLogLine says hello
PASS
`)
	got := ParseGoBenchmarks(out)
	if len(got) != 3 {
		t.Fatalf("got %d benchmarks, want 3: %v", len(got), got)
	}
	if v := got["BenchmarkUnprotectedHandler"].Metrics["ns/op"]; v != 422 {
		t.Errorf("unprotected ns/op = %v, want 422", v)
	}
	if v := got["BenchmarkAccessMiddleware/role+cel-deny-policy"].Metrics["allocs/op"]; v != 31 {
		t.Errorf("cel allocs/op = %v, want 31", v)
	}
	if v := got["BenchmarkLoginArgon2id"].Metrics["logins/s"]; v != 54.1 {
		t.Errorf("logins/s = %v, want 54.1", v)
	}
}
