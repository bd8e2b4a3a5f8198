package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// stats collects the outcome of each request: latencies of accepted ones
// and a count per status (0 for a transport error).
type stats struct {
	mu        sync.Mutex
	latencies []time.Duration
	status    map[int]int
	accepted  int
	errors    int
	lastErr   string
}

func newStats(capacity int) *stats {
	return &stats{latencies: make([]time.Duration, 0, capacity), status: map[int]int{}}
}

// record adds one request; a 2xx counts as accepted.
func (s *stats) record(status int, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[status]++
	if err == nil && status >= 200 && status < 300 {
		s.accepted++
		s.latencies = append(s.latencies, d)
		return
	}
	s.errors++
	if err != nil {
		s.lastErr = err.Error()
	}
}

// snapshot returns the accepted and error counts so far.
func (s *stats) snapshot() (accepted, errors int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.errors
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted, by the
// nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = min(max(rank, 0), len(sorted)-1)
	return sorted[rank]
}

// summary is the key=value tail of the final line: percentiles, errors and
// one status_NNN per status seen.
func (s *stats) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	var b strings.Builder
	fmt.Fprintf(&b, "p50=%s p90=%s p99=%s max=%s errors=%d", ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)), ms(percentile(lat, 100)), s.errors)
	codes := make([]int, 0, len(s.status))
	for c := range s.status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		name := fmt.Sprintf("status_%d", c)
		if c == 0 {
			name = "status_neterr"
		}
		fmt.Fprintf(&b, " %s=%d", name, s.status[c])
	}
	return b.String()
}

// ms formats a duration in milliseconds with one decimal, the unit every
// figure of the summary line uses.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// secs formats a duration in seconds with three decimals.
func secs(d time.Duration) string {
	return fmt.Sprintf("%.3fs", d.Seconds())
}
