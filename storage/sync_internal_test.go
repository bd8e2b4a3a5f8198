package storage

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDurableWritesStayFull checks that the relaxed commits of the small
// batcher never leak into durable ones: every withTx (inbox group commits,
// tenders, queued activities) must run with synchronous=FULL (2), whatever
// ran before it on the one writer connection.
func TestDurableWritesStayFull(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "sync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	level := func(tx *sql.Tx) int {
		t.Helper()
		var n int
		if err := tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		name string
		run  func(fn func(*sql.Tx) error) error
		want int
	}{
		{"durable first", func(fn func(*sql.Tx) error) error { return db.withTx(ctx, fn) }, 2},
		{"batched mark", func(fn func(*sql.Tx) error) error { return db.small.do(ctx, fn) }, 1},
		{"durable after a batch", func(fn func(*sql.Tx) error) error { return db.withTx(ctx, fn) }, 2},
		{"relaxed twice", func(fn func(*sql.Tx) error) error { return db.writeTx(ctx, false, fn) }, 1},
		{"relaxed again", func(fn func(*sql.Tx) error) error { return db.writeTx(ctx, false, fn) }, 1},
		{"durable at the end", func(fn func(*sql.Tx) error) error { return db.withTx(ctx, fn) }, 2},
	}
	for _, s := range steps {
		var got int
		if err := s.run(func(tx *sql.Tx) error { got = level(tx); return nil }); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Errorf("%s: synchronous = %d, want %d", s.name, got, s.want)
		}
	}
}

// TestWriteGateOrder: a waiting group commit goes before a waiting
// background write, unless that write has already let highStreakMax group
// commits pass.
func TestWriteGateOrder(t *testing.T) {
	cases := []struct {
		name                string
		streak              int
		waitHigh, waitLow   int
		wantFirst, wantNext string
	}{
		{"a group commit first", 0, 1, 1, "high", "low"},
		{"still first after a few", highStreakMax - 1, 1, 1, "high", "low"},
		{"a background write after its limit", highStreakMax, 1, 1, "low", "high"},
		{"no group commit waits", 0, 0, 1, "low", ""},
		{"no background write waits", highStreakMax, 1, 0, "high", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newWriteGate()
			g.lock(true)
			g.mu.Lock()
			g.highStreak = c.streak
			g.mu.Unlock()
			order := make(chan string, 4)
			start := func(high bool, name string) {
				go func() {
					g.lock(high)
					order <- name
					g.unlock()
				}()
			}
			for range c.waitHigh {
				start(true, "high")
			}
			for range c.waitLow {
				start(false, "low")
			}
			waitFor(t, func() bool { return g.waitingHigh == c.waitHigh && g.waitingLow == c.waitLow }, &g.mu)
			g.unlock()
			next := func() string {
				select {
				case got := <-order:
					return got
				case <-time.After(5 * time.Second):
					t.Fatal("no waiter got the writer: the gate is stuck")
					return ""
				}
			}
			if got := next(); got != c.wantFirst {
				t.Errorf("first %s, want %s", got, c.wantFirst)
			}
			if c.wantNext != "" {
				if got := next(); got != c.wantNext {
					t.Errorf("then %s, want %s", got, c.wantNext)
				}
			}
		})
	}
}

// TestWriteGateNeverStarvesBackground: group commits back to back, with
// more always waiting, still let background writes through.
func TestWriteGateNeverStarvesBackground(t *testing.T) {
	g := newWriteGate()
	stop := make(chan struct{})
	var commits atomic.Int64
	var wg sync.WaitGroup
	for range 3 { // more group commits always waiting
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				g.lock(true)
				commits.Add(1)
				time.Sleep(100 * time.Microsecond)
				g.unlock()
			}
		})
	}
	for range 20 {
		got := make(chan struct{})
		go func() { g.lock(false); g.unlock(); close(got) }()
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			close(stop) // the writers may be stuck for good: do not wait for them
			t.Fatalf("a background write never got the writer (%d group commits meanwhile)", commits.Load())
		}
	}
	close(stop)
	wg.Wait()
}

// waitFor polls cond under mu until it holds.
func waitFor(t *testing.T, cond func() bool, mu *sync.Mutex) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("waiters never arrived")
		}
		time.Sleep(time.Millisecond)
	}
}
