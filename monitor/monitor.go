// Package monitor samples the load of this host and this process (CPU,
// memory, the data directory's disk) for the system metrics and the
// "monitoring" health component. It reads /proc and statfs; nothing here
// is estimated or made up: a figure that cannot be read is reported as
// missing.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// Sample is one reading. CPU figures are percentages over the time since
// the previous reading: HostCPU of all cores together (0..100),
// ProcessCPU of one core (0..100×cores).
type Sample struct {
	At            time.Time
	HostCPU       float64
	HostMemoryMB  float64 // in use: total minus available
	HostTotalMB   float64
	DiskUsage     float64 // percent of the data directory's filesystem in use
	ProcessCPU    float64
	ProcessMemory float64 // resident MB
}

// Sampler reads a Sample every Interval. Create it with New, run it with
// Run; Latest and Health are safe for concurrent use.
type Sampler struct {
	dir      string
	interval time.Duration
	fs       procfs.FS

	mu     sync.Mutex
	latest Sample
	err    error

	prev reading
}

type reading struct {
	at         time.Time
	busy, all  float64 // host CPU seconds
	processCPU float64 // this process's CPU seconds
	processRSS int     // this process's resident memory, bytes
}

// New returns a sampler of the filesystem holding dir, reading every
// interval (default 5 s).
func New(dir string, interval time.Duration) (*Sampler, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return &Sampler{dir: dir, interval: interval, fs: fs, err: errors.New("no sample taken yet")}, nil
}

// Run samples until ctx ends. The first sample is taken a quarter of a
// second after the start, so that its CPU figures cover a real interval.
func (s *Sampler) Run(ctx context.Context) error {
	s.prev, _ = s.read()
	first := time.NewTimer(250 * time.Millisecond)
	defer first.Stop()
	select {
	case <-first.C:
	case <-ctx.Done():
		return nil
	}
	s.sample()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.sample()
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *Sampler) read() (reading, error) {
	r := reading{at: time.Now()}
	st, err := s.fs.Stat()
	if err != nil {
		return r, fmt.Errorf("read /proc/stat: %w", err)
	}
	c := st.CPUTotal
	idle := c.Idle + c.Iowait
	r.all = c.User + c.Nice + c.System + idle + c.IRQ + c.SoftIRQ + c.Steal
	r.busy = r.all - idle
	self, err := s.fs.Self()
	if err != nil {
		return r, fmt.Errorf("read /proc/self: %w", err)
	}
	ps, err := self.Stat()
	if err != nil {
		return r, fmt.Errorf("read /proc/self/stat: %w", err)
	}
	r.processCPU = ps.CPUTime()
	r.processRSS = ps.ResidentMemory()
	return r, nil
}

func (s *Sampler) sample() {
	smp, err := s.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
	if err == nil {
		s.latest = smp
	}
}

func (s *Sampler) take() (Sample, error) {
	cur, err := s.read()
	if err != nil {
		return Sample{}, err
	}
	prev := s.prev
	s.prev = cur
	smp := Sample{At: cur.at}
	if d := cur.all - prev.all; d > 0 {
		smp.HostCPU = round1(100 * (cur.busy - prev.busy) / d)
	}
	if wall := cur.at.Sub(prev.at).Seconds(); wall > 0 {
		smp.ProcessCPU = round1(100 * (cur.processCPU - prev.processCPU) / wall)
	}
	mem, err := s.fs.Meminfo()
	if err != nil {
		return Sample{}, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	if mem.MemTotal != nil && mem.MemAvailable != nil {
		smp.HostTotalMB = round1(float64(*mem.MemTotal) / 1024)
		smp.HostMemoryMB = round1(float64(*mem.MemTotal-*mem.MemAvailable) / 1024)
	}
	smp.ProcessMemory = round1(float64(cur.processRSS) / (1 << 20))
	var fsst syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &fsst); err != nil {
		return Sample{}, fmt.Errorf("statfs %s: %w", s.dir, err)
	}
	// As df does: used over what a non-root user could use.
	used := float64(fsst.Blocks - fsst.Bfree)
	if avail := used + float64(fsst.Bavail); avail > 0 {
		smp.DiskUsage = round1(100 * used / avail)
	}
	return smp, nil
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// Latest returns the most recent sample, or why there is none.
func (s *Sampler) Latest() (Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest.At.IsZero() {
		return Sample{}, s.err
	}
	return s.latest, nil
}

// Health is Healthy when a sample was taken within three intervals.
func (s *Sampler) Health() (status, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.latest.At.IsZero():
		return "Degraded", "no load sample yet: " + s.err.Error()
	case time.Since(s.latest.At) > 3*s.interval+time.Second:
		msg := "last load sample at " + s.latest.At.UTC().Format(time.RFC3339)
		if s.err != nil {
			msg += ": " + s.err.Error()
		}
		return "Degraded", msg
	}
	return "Healthy", ""
}
