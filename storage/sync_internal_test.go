package storage

import (
	"context"
	"database/sql"
	"path/filepath"
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

// TestWriteGateLetsInboxCommitsFirst: while an inbox group commit waits
// for the writer, a background write does not get it, even when it has
// waited longer; it gets it once no group commit waits.
func TestWriteGateLetsInboxCommitsFirst(t *testing.T) {
	g := newWriteGate()
	g.lock(false) // a background transaction holds the writer
	got := make(chan struct{})
	go func() {
		g.lock(false) // another background write waits
		close(got)
		g.unlock()
	}()
	g.mu.Lock()
	g.waitingHigh++ // a group commit is waiting
	g.mu.Unlock()
	g.unlock()
	select {
	case <-got:
		t.Fatal("a background write took the writer while a group commit waited")
	case <-time.After(50 * time.Millisecond):
	}
	g.mu.Lock()
	g.waitingHigh--
	g.mu.Unlock()
	g.cond.Broadcast()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the background write never got the writer")
	}

	// And the group commit itself goes ahead of a waiting background write.
	g.lock(false)
	order := make(chan string, 2)
	go func() { g.lock(false); order <- "background"; g.unlock() }()
	go func() { g.lock(true); order <- "inbox"; g.unlock() }()
	for {
		g.mu.Lock()
		w := g.waitingHigh
		g.mu.Unlock()
		if w == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	g.unlock()
	if first := <-order; first != "inbox" {
		t.Errorf("%s went first; want the inbox commit", first)
	}
	<-order
}
