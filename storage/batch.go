package storage

import (
	"context"
	"database/sql"
	"sync"

	"github.com/coopnet/coopnet/tender"
)

// txBatcher commits writes that arrive together in one transaction, so
// they share one commit. Two run per database: every durable write
// (withTx) goes through one, so concurrent inbox workers share an fsync;
// delivery outcomes and "processed" marks, small, frequent and only
// repeating work if lost, go through the other without an fsync (see
// writeTx). One transaction each made the commit, not signing, bound a
// fan-out to many hosts, and the inbox worker to ~200 activities/s.
type txBatcher struct {
	db      *DB
	durable bool // commit with fsync (see writeTx)
	reqs    chan *txReq
	stop    chan struct{}
	exited  chan struct{}
	closing sync.Once
}

type txReq struct {
	fn   func(*sql.Tx) error
	err  error
	done chan struct{}
}

func newTxBatcher(db *DB, durable bool) *txBatcher {
	b := &txBatcher{db: db, durable: durable, reqs: make(chan *txReq, maxBatch), stop: make(chan struct{}), exited: make(chan struct{})}
	go b.run()
	return b
}

func (b *txBatcher) close() {
	b.closing.Do(func() { close(b.stop) })
	<-b.exited
}

// do runs fn in a transaction shared with other callers and returns once
// it is committed.
func (b *txBatcher) do(ctx context.Context, fn func(*sql.Tx) error) error {
	r := &txReq{fn: fn, done: make(chan struct{})}
	select {
	case b.reqs <- r:
	case <-b.exited:
		return &tender.Error{Code: tender.EUnavailable, Message: "storage closing"}
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-b.exited:
		select {
		case <-r.done:
			return r.err
		default:
			return &tender.Error{Code: tender.EUnavailable, Message: "storage closing"}
		}
	}
}

func (b *txBatcher) run() {
	defer close(b.exited)
	for {
		var first *txReq
		select {
		case first = <-b.reqs:
		case <-b.stop:
			return
		}
		batch := []*txReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := b.db.writeTx(context.Background(), b.durable, func(tx *sql.Tx) error {
			for _, r := range batch {
				if err := r.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && len(batch) > 1 {
			// One bad write must not fail the others: retry each alone.
			for _, r := range batch {
				r.err = b.db.writeTx(context.Background(), b.durable, r.fn)
				close(r.done)
			}
			continue
		}
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
	}
}
