// Package storage keeps a node's state in SQLite. It is the only package
// that writes SQL; its API speaks in domain terms so that another database
// can implement the same methods later. Each exported method is one
// transaction.
package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/tender"
	sqlite3 "github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open node database: one writer connection, so that writes never
// fight over the lock, and a pool of readers, which WAL lets run beside it.
type DB struct {
	path    string
	write   *sql.DB
	read    *sql.DB
	Now     func() time.Time
	inbox   *groupCommitter
	durable *txBatcher // withTx
	small   *txBatcher // relaxed: delivery outcomes, processed marks
	notify  chan struct{}
	queued  atomic.Bool // deliveries were queued by this process
	gate    *writeGate  // who gets the writer connection next
	// syncLevel is the synchronous setting last given to the writer
	// connection; only read and written while holding it (writeTx).
	syncLevel string
}

// Open opens (creating if needed) the database at path and applies any
// pending migrations. A database whose schema is newer than this binary
// knows is refused, so an old binary never writes to a newer layout.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("storage: empty path")
	}
	// synchronous=FULL: an activity we answered 2xx for must survive power
	// loss, not only a crashed process.
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	write, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	q.Set("_txlock", "deferred")
	q.Set("mode", "rw")
	read, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	db := &DB{path: path, write: write, read: read, Now: time.Now, notify: make(chan struct{}, 1), syncLevel: "FULL", gate: newWriteGate()}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.inbox = newGroupCommitter(db)
	db.durable = newTxBatcher(db, true)
	db.small = newTxBatcher(db, false)
	return db, nil
}

// Close stops background work and closes the database.
func (db *DB) Close() error {
	if db.inbox != nil {
		db.inbox.close()
	}
	if db.small != nil {
		db.small.close()
	}
	if db.durable != nil {
		db.durable.close()
	}
	err1 := db.read.Close()
	err2 := db.write.Close()
	return errors.Join(err1, err2)
}

// Path returns the file the database lives in.
func (db *DB) Path() string { return db.path }

// DeliveriesQueued is signalled (without blocking) whenever this process
// queues deliveries, so that workers need not wait for their next poll.
func (db *DB) DeliveriesQueued() <-chan struct{} { return db.notify }

// QueuedDeliveries reports whether this process queued any delivery since
// the database was opened: a command that did must wake serve.
func (db *DB) QueuedDeliveries() bool { return db.queued.Load() }

func (db *DB) signalDeliveries() {
	db.queued.Store(true)
	select {
	case db.notify <- struct{}{}:
	default:
	}
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("storage: migration %q is not named NNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaVersion is the newest migration this binary knows.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	defer tx.Rollback()
	var current int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&current); err != nil {
		return fmt.Errorf("storage: read schema version: %w", err)
	}
	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].version
	}
	if current > known {
		return fmt.Errorf("storage: database %s has schema version %d, newer than this binary's %d: upgrade coopnet", db.path, current, known)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("storage: migration %s: %w", m.name, err)
		}
		// PRAGMA takes no bound parameters; the version is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			return fmt.Errorf("storage: migration %s: %w", m.name, err)
		}
	}
	return tx.Commit()
}

// withTx runs fn in a write transaction, committed durably: with
// synchronous=FULL the commit is on disk before withTx returns. Calls that
// arrive together share one transaction and one fsync; if any of them
// fails the others are retried alone, so fn may run twice and must only
// act through tx.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.durable.do(ctx, fn)
}

// writeGate orders the users of the one writer connection. The inbox's
// group commits, whose senders wait for our 202, go before background
// writes (the inbox worker's changes, delivery outcomes), but a background
// write waits for at most highStreakMax group commits in a row. Left to
// database/sql's pool, a burst's commits queued behind the worker's
// transactions, and with peers keeping a fixed number of requests open the
// inbox answered fewer times a second; with strict priority, at a steady
// 1,000/s the inbox commits nearly all the time and the worker, starved
// of the writer, fell behind.
type writeGate struct {
	mu          sync.Mutex
	cond        *sync.Cond
	busy        bool
	highStreak  int // group commits in a row while a background write waited
	waitingHigh int
	waitingLow  int
}

// highStreakMax bounds a background write's wait, in group commits.
const highStreakMax = 4

func newWriteGate() *writeGate {
	g := &writeGate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// mayGo says whether a waiter of the given kind may take the writer now.
func (g *writeGate) mayGo(high bool) bool {
	if g.busy {
		return false
	}
	if high {
		return g.waitingLow == 0 || g.highStreak < highStreakMax
	}
	return g.waitingHigh == 0 || g.highStreak >= highStreakMax
}

func (g *writeGate) lock(high bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	waiting := &g.waitingLow
	if high {
		waiting = &g.waitingHigh
	}
	*waiting++
	for !g.mayGo(high) {
		g.cond.Wait()
	}
	*waiting--
	switch {
	case !high:
		g.highStreak = 0
	case g.waitingLow > 0:
		g.highStreak++
	}
	g.busy = true
}

func (g *writeGate) unlock() {
	g.mu.Lock()
	g.busy = false
	g.mu.Unlock()
	g.cond.Broadcast()
}

// writeTx runs fn in one write transaction. durable=false commits with
// synchronous=NORMAL, which in WAL mode skips the fsync: the commit
// survives a crashed or killed process, and a power loss can undo it but
// never corrupt the file. Only writes whose loss repeats work use it:
// delivery outcomes (the activity is sent again and the receiver drops the
// duplicate by id) and "processed" marks (handlers are idempotent). A
// fan-out to 1,000 hosts spent 4 % of its CPU in those fsyncs.
func (db *DB) writeTx(ctx context.Context, durable bool, fn func(tx *sql.Tx) error) error {
	return db.writeTxAt(ctx, false, durable, fn)
}

// writeTxAt is writeTx with a priority: first goes before every writer
// that is not (see writeGate).
func (db *DB) writeTxAt(ctx context.Context, first, durable bool, fn func(tx *sql.Tx) error) error {
	db.gate.lock(first)
	defer db.gate.unlock()
	// The writer pool has one connection; holding it serialises every
	// write and makes syncLevel the state of that connection.
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return wrapErr(err)
	}
	defer conn.Close()
	level := "FULL"
	if !durable {
		level = "NORMAL"
	}
	if db.syncLevel != level {
		// A connection the pool opened anew starts at FULL (the DSN), so a
		// stale syncLevel can only cause an extra PRAGMA, never a durable
		// write committed without its fsync.
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = "+level); err != nil {
			return wrapErr(err)
		}
		db.syncLevel = level
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return wrapErr(tx.Commit())
}

// wrapErr turns storage failures the caller cannot fix (a full disk, a
// read-only file, a lock held too long) into EUnavailable, which the inbox
// answers with 503: never a 2xx for something not stored.
func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	var te *tender.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &tender.Error{Code: tender.ENotFound, Message: "not found"}
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrFull, sqlite3.ErrReadonly, sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrIoErr, sqlite3.ErrCantOpen:
			return fmt.Errorf("storage: %w: %w", &tender.Error{Code: tender.EUnavailable, Message: "storage unavailable"}, err)
		}
	}
	return fmt.Errorf("storage: %w", err)
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
