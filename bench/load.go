package bench

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latencies summarises a set of durations.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0..100).
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// ms converts to milliseconds for the table.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Load is the outcome of a load run.
type Load struct {
	Requests  int
	Errors    int
	Elapsed   time.Duration
	Latencies Latencies
}

// Rate is requests per second.
func (l Load) Rate() float64 { return float64(l.Requests) / l.Elapsed.Seconds() }

// Call sends one request and reports whether it succeeded.
type Call func(ctx context.Context, c *http.Client) bool

// NewClient is an HTTP client keeping up to conns connections alive.
func NewClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	tr.MaxConnsPerHost = conns
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// ClosedLoop runs clients concurrent clients, each sending its next request
// as soon as the last one answers, for d: the peak rate.
func ClosedLoop(ctx context.Context, clients int, d time.Duration, req Call) Load {
	hc := NewClient(clients)
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu  sync.Mutex
		out Load
		wg  sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat Latencies
			errs := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				ok := req(ctx, hc)
				if ctx.Err() != nil {
					break
				}
				if !ok {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			out.Latencies = append(out.Latencies, lat...)
			out.Errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.Elapsed = time.Since(start)
	out.Requests = len(out.Latencies)
	return out
}

// OpenLoop sends requests at a fixed rate for d with up to clients in
// flight. A request's latency counts from when it was due, so a queue
// building up shows in the figures (no coordinated omission).
func OpenLoop(ctx context.Context, clients int, rate float64, d time.Duration, req Call) Load {
	hc := NewClient(clients)
	defer hc.CloseIdleConnections()
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	var (
		next atomic.Int64
		mu   sync.Mutex
		out  Load
		wg   sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= total || ctx.Err() != nil {
					return
				}
				due := start.Add(time.Duration(n) * interval)
				time.Sleep(time.Until(due))
				ok := req(ctx, hc)
				lat := time.Since(due)
				mu.Lock()
				if ok {
					out.Latencies = append(out.Latencies, lat)
				} else {
					out.Errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out.Elapsed = time.Since(start)
	out.Requests = len(out.Latencies)
	return out
}
