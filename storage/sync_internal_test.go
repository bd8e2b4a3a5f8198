package storage

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
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
