package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// GoBenchmark is one line of `go test -bench` output: the benchmark's
// name without the GOMAXPROCS suffix, and each reported metric by unit
// (ns/op, allocs/op, B/op and custom ones such as logins/s).
type GoBenchmark struct {
	Name    string
	Metrics map[string]float64
}

// RunGoBenchmarks runs the testing.B benchmarks matching pattern in the
// given packages (with -benchmem, no tests) through the go tool and
// returns them by name. The figures come from Go's own benchmark harness,
// so they are the same numbers `go test -bench` prints.
func RunGoBenchmarks(ctx context.Context, pattern string, pkgs ...string) (map[string]GoBenchmark, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-count", "1"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return ParseGoBenchmarks(out), nil
}

// ParseGoBenchmarks reads the result lines of `go test -bench` output.
func ParseGoBenchmarks(out []byte) map[string]GoBenchmark {
	found := map[string]GoBenchmark{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // not a result line (a log line that starts the same)
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		b := GoBenchmark{Name: name, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			b.Metrics[fields[i+1]] = v
		}
		found[name] = b
	}
	return found
}

// AccessRows runs the access-control benchmarks of handlers and auth: the
// auth + policy middleware per request against the same route without
// it, and password checks (logins) per second with the argon2id
// parameters in use.
func AccessRows(ctx context.Context) ([]Row, error) {
	found, err := RunGoBenchmarks(ctx, "^(BenchmarkUnprotectedHandler|BenchmarkAccessMiddleware|BenchmarkLoginArgon2id)$", "./handlers", "./auth")
	if err != nil {
		return nil, err
	}
	get := func(name, unit string) (float64, error) {
		b, ok := found[name]
		if !ok {
			return 0, fmt.Errorf("benchmark %s did not run", name)
		}
		v, ok := b.Metrics[unit]
		if !ok {
			return 0, fmt.Errorf("benchmark %s reported no %s", name, unit)
		}
		return v, nil
	}
	base, err := get("BenchmarkUnprotectedHandler", "ns/op")
	if err != nil {
		return nil, err
	}
	baseAllocs, err := get("BenchmarkUnprotectedHandler", "allocs/op")
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, v := range []struct{ bench, what string }{
		{"BenchmarkAccessMiddleware/role", "built-in role"},
		{"BenchmarkAccessMiddleware/role+cel-deny-policy", "role + a CEL Deny policy"},
	} {
		ns, err := get(v.bench, "ns/op")
		if err != nil {
			return nil, err
		}
		allocs, err := get(v.bench, "allocs/op")
		if err != nil {
			return nil, err
		}
		rows = append(rows,
			Row{Section: "access", Setup: "in process", Name: "GET through auth + policy middleware (" + v.what + ")", Unit: "µs/req",
				Value: ns / 1000, Baseline: base / 1000, BaselineName: "same route, no middleware"},
			Row{Section: "access", Setup: "in process", Name: "allocations per request (" + v.what + ")", Unit: "allocs",
				Value: allocs, Baseline: baseAllocs, BaselineName: "same route, no middleware"})
	}
	logins, err := get("BenchmarkLoginArgon2id", "logins/s")
	if err != nil {
		return nil, err
	}
	rows = append(rows, Row{Section: "access", Setup: "in process", Name: "password checks per second (argon2id 19 MiB, 2 passes, 1 lane; one per core at once)",
		Unit: "logins/s", Value: logins})
	return rows, nil
}
