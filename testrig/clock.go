// Package testrig starts full coopnet nodes and fake fediverse peers in one
// test process: real HTTP on loopback, real SQLite files in t.TempDir(),
// real keys and signatures. Tests drive whole flows through it.
package testrig

import (
	"sync"
	"time"
)

// Clock is a settable clock shared by the nodes and peers of a test, so
// deadlines and retry backoff are tested without sleeping. It starts at
// the real time and moves only when told (Advance) — or follows real time
// when created with Real.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// NewClock returns a clock at the real time.
func NewClock() *Clock { return &Clock{} }

// Now returns the clock's time: real time plus what Advance added, so
// that timeouts inside the HTTP stack still see time pass.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
