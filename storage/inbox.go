package storage

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/coopnet/coopnet/tender"
)

// InboxItem is one verified incoming activity.
type InboxItem struct {
	Seq       int64
	Activity  string // the activity's id
	Actor     string
	Type      string
	Recipient string // local username for a personal inbox, "" for the shared one
	Body      []byte
	Received  time.Time
	Processed bool
	Error     string
}

// StoreInbox commits an incoming activity durably and reports whether it
// is new: an id seen before, in any inbox, is not stored again. It returns
// only once the row is on disk; concurrent callers share one transaction
// and one fsync (group commit), which is what lets a small machine take
// thousands of activities a second with synchronous=FULL.
func (db *DB) StoreInbox(ctx context.Context, it *InboxItem) (bool, error) {
	return db.inbox.store(ctx, it)
}

type inboxReq struct {
	item    *InboxItem
	created bool
	err     error
	done    chan struct{}
}

type groupCommitter struct {
	db      *DB
	reqs    chan *inboxReq
	stop    chan struct{}
	wg      sync.WaitGroup
	signal  chan struct{}
	closing sync.Once
	// exited is closed when run has returned: a request still queued then
	// will never be committed, and its caller must not wait for it.
	exited chan struct{}
}

// maxBatch bounds one group commit, so one transaction never holds the
// write lock for long.
const maxBatch = 512

func newGroupCommitter(db *DB) *groupCommitter {
	g := &groupCommitter{db: db, reqs: make(chan *inboxReq, maxBatch), stop: make(chan struct{}), signal: make(chan struct{}, 1), exited: make(chan struct{})}
	g.wg.Add(1)
	go g.run()
	return g
}

func (g *groupCommitter) close() {
	g.closing.Do(func() { close(g.stop) })
	g.wg.Wait()
}

func (g *groupCommitter) store(ctx context.Context, it *InboxItem) (bool, error) {
	r := &inboxReq{item: it, done: make(chan struct{})}
	select {
	case g.reqs <- r:
	case <-g.stop:
		return false, &tender.Error{Code: tender.EUnavailable, Message: "storage closing"}
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// Once queued the request is committed or failed by the loop; waiting
	// for it even past ctx keeps "answered 2xx" and "stored" in step. The
	// send above can win over a closed stop (select picks at random), so
	// the loop may already be gone: then the request was never taken.
	select {
	case <-r.done:
	case <-g.exited:
		select {
		case <-r.done:
		default:
			return false, &tender.Error{Code: tender.EUnavailable, Message: "storage closing"}
		}
	}
	return r.created, r.err
}

func (g *groupCommitter) run() {
	defer g.wg.Done()
	defer close(g.exited)
	for {
		var first *inboxReq
		select {
		case first = <-g.reqs:
		case <-g.stop:
			// Fail whatever is still queued rather than leave it waiting.
			for {
				select {
				case r := <-g.reqs:
					r.err = &tender.Error{Code: tender.EUnavailable, Message: "storage closing"}
					close(r.done)
				default:
					return
				}
			}
		}
		batch := []*inboxReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := g.commit(batch)
		for _, r := range batch {
			if err != nil {
				r.err, r.created = err, false
			}
			close(r.done)
		}
		if err == nil {
			select {
			case g.signal <- struct{}{}:
			default:
			}
		}
	}
}

func (g *groupCommitter) commit(batch []*inboxReq) error {
	ctx := context.Background()
	return g.db.writeTxAt(ctx, true, true, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO inbox (activity, actor, type, recipient, body, received) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity) DO NOTHING`)
		if err != nil {
			return wrapErr(err)
		}
		defer stmt.Close()
		for _, r := range batch {
			it := r.item
			res, err := stmt.ExecContext(ctx, it.Activity, it.Actor, it.Type, it.Recipient, it.Body, ms(it.Received))
			if err != nil {
				return wrapErr(err)
			}
			n, _ := res.RowsAffected()
			r.created = n == 1
			if r.created {
				it.Seq, _ = res.LastInsertId()
			}
		}
		return nil
	})
}

// InboxStored is signalled (without blocking) after incoming activities
// were committed in this process, so workers start on them at once.
func (db *DB) InboxStored() <-chan struct{} { return db.inbox.signal }

// PendingInbox returns up to limit unprocessed activities in arrival order.
func (db *DB) PendingInbox(ctx context.Context, limit int) ([]*InboxItem, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT seq, activity, actor, type, recipient, body, received FROM inbox WHERE processed = 0 ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []*InboxItem
	for rows.Next() {
		it := &InboxItem{}
		var received int64
		if err := rows.Scan(&it.Seq, &it.Activity, &it.Actor, &it.Type, &it.Recipient, &it.Body, &received); err != nil {
			return nil, wrapErr(err)
		}
		it.Received = fromMS(received)
		out = append(out, it)
	}
	return out, wrapErr(rows.Err())
}

// InboxDone marks an activity processed, with the error that stopped it
// (kept for operators; the activity is not retried).
func (db *DB) InboxDone(ctx context.Context, seq int64, errMsg string) error {
	return db.small.do(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE inbox SET processed = ?, error = ? WHERE seq = ?`, ms(db.Now()), errMsg, seq)
		return wrapErr(err)
	})
}

// InboxMark marks one activity processed, with the error that stopped it.
type InboxMark struct {
	Seq   int64
	Error string
}

// InboxDoneMany marks several activities processed in one transaction.
func (db *DB) InboxDoneMany(ctx context.Context, marks []InboxMark) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		now := ms(db.Now())
		for _, m := range marks {
			if _, err := tx.ExecContext(ctx, `UPDATE inbox SET processed = ?, error = ? WHERE seq = ?`, now, m.Error, m.Seq); err != nil {
				return wrapErr(err)
			}
		}
		return nil
	})
}

// InboxActivity returns one stored incoming activity by id.
func (db *DB) InboxActivity(ctx context.Context, id string) (*InboxItem, error) {
	it := &InboxItem{Activity: id}
	var received, processed int64
	err := db.read.QueryRowContext(ctx, `SELECT seq, actor, type, recipient, body, received, processed, error FROM inbox WHERE activity = ?`, id).
		Scan(&it.Seq, &it.Actor, &it.Type, &it.Recipient, &it.Body, &received, &processed, &it.Error)
	if err == sql.ErrNoRows {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "not found"}
	}
	it.Received, it.Processed = fromMS(received), processed != 0
	return it, wrapErr(err)
}

// CountInbox counts stored incoming activities, and those processed.
func (db *DB) CountInbox(ctx context.Context) (stored, processed int, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(processed <> 0), 0) FROM inbox`).Scan(&stored, &processed)
	return stored, processed, wrapErr(err)
}
