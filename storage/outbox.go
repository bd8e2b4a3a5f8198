package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/coopnet/coopnet/tender"
)

// Outgoing is an activity to send: stored, and one delivery row queued per
// distinct inbox, in the transaction of the change that caused it.
type Outgoing struct {
	IRI     string
	ActorID int64
	Type    string
	Body    []byte // as sent: bto/bcc already removed
	Public  bool   // part of the actor's outbox collection
	Inboxes []string
}

func queue(ctx context.Context, tx *sql.Tx, now time.Time, out []*Outgoing) error {
	// A fan-out inserts one row per host: parse the statement once.
	var insert *sql.Stmt
	defer func() {
		if insert != nil {
			insert.Close()
		}
	}()
	for _, o := range out {
		if o == nil {
			continue
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO activities (iri, actor_id, type, body, public, created) VALUES (?, ?, ?, ?, ?, ?)`,
			o.IRI, o.ActorID, o.Type, o.Body, b2i(o.Public), ms(now))
		if err != nil {
			if isUnique(err) {
				return &tender.Error{Code: tender.EConflict, Message: "activity " + o.IRI + " already exists"}
			}
			return wrapErr(err)
		}
		id, _ := res.LastInsertId()
		seen := map[string]bool{}
		for _, inbox := range o.Inboxes {
			if inbox == "" || seen[inbox] {
				continue
			}
			seen[inbox] = true
			u, err := url.Parse(inbox)
			if err != nil || u.Host == "" {
				return fmt.Errorf("storage: queue %s: bad inbox %q", o.IRI, inbox)
			}
			if insert == nil {
				if insert, err = tx.PrepareContext(ctx, `INSERT INTO deliveries (activity_id, inbox, host, state, next_try, created, updated) VALUES (?, ?, ?, 'pending', ?, ?, ?)`); err != nil {
					return wrapErr(err)
				}
			}
			if _, err := insert.ExecContext(ctx, id, inbox, u.Host, ms(now), ms(now), ms(now)); err != nil {
				return wrapErr(err)
			}
		}
	}
	return nil
}

// Queue stores activities and their deliveries on their own.
func (db *DB) Queue(ctx context.Context, out ...*Outgoing) error {
	err := db.withTx(ctx, func(tx *sql.Tx) error { return queue(ctx, tx, db.Now(), out) })
	if err == nil {
		db.signalDeliveries()
	}
	return err
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one activity bound for one inbox.
type Delivery struct {
	ID         int64
	ActivityID int64
	Activity   string // the activity's IRI
	Actor      string // the sending local actor's username
	ActorID    int64
	Inbox      string
	Host       string
	State      string
	Attempts   int
	NextTry    time.Time
	LastStatus int
	LastError  string
	Created    time.Time
	Updated    time.Time
}

// DueDeliveries returns up to limit pending deliveries whose time has come,
// oldest first, skipping the ids in busy (those being sent right now).
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int, busy map[int64]bool) ([]*Delivery, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT d.id, d.activity_id, a.iri, ac.username, a.actor_id, d.inbox, d.host, d.attempts, d.next_try, d.created
		FROM deliveries d JOIN activities a ON a.id = d.activity_id JOIN actors ac ON ac.id = a.actor_id
		WHERE d.state = 'pending' AND d.next_try <= ? ORDER BY d.next_try, d.id LIMIT ?`, ms(now), limit+len(busy))
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d := &Delivery{State: DeliveryPending}
		var next, created int64
		if err := rows.Scan(&d.ID, &d.ActivityID, &d.Activity, &d.Actor, &d.ActorID, &d.Inbox, &d.Host, &d.Attempts, &next, &created); err != nil {
			return nil, wrapErr(err)
		}
		if busy[d.ID] {
			continue
		}
		d.NextTry, d.Created = fromMS(next), fromMS(created)
		out = append(out, d)
		if len(out) == limit {
			break
		}
	}
	return out, wrapErr(rows.Err())
}

// ActivityBody returns the stored body of an outgoing activity by row id.
// DueDeliveries leaves bodies out: a fan-out has a thousand rows sharing
// one body, and re-reading it with every row on every poll cost more than
// the signatures.
func (db *DB) ActivityBody(ctx context.Context, activityID int64) ([]byte, error) {
	var body []byte
	err := db.read.QueryRowContext(ctx, `SELECT body FROM activities WHERE id = ?`, activityID).Scan(&body)
	return body, wrapErr(err)
}

// NextDeliveryTime returns when the earliest pending delivery is due, or
// the zero time when none is pending.
func (db *DB) NextDeliveryTime(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT min(next_try) FROM deliveries WHERE state = 'pending'`).Scan(&next)
	if err != nil {
		return time.Time{}, wrapErr(err)
	}
	return fromMS(next.Int64), nil
}

// DeliveryDone records a 2xx: the delivery is never sent again.
func (db *DB) DeliveryDone(ctx context.Context, id int64, status int) error {
	return db.small.do(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?, last_error = '', updated = ? WHERE id = ?`,
			status, ms(db.Now()), id); err != nil {
			return wrapErr(err)
		}
		// A bid whose Create reached the owner's inbox is delivered: the
		// 2xx is the bidder's proof of submission.
		_, err := tx.ExecContext(ctx, `UPDATE bids SET status = 'delivered' WHERE side = 'sent' AND status = 'submitted'
			AND activity = (SELECT a.iri FROM activities a JOIN deliveries d ON d.activity_id = a.id WHERE d.id = ?)`, id)
		return wrapErr(err)
	})
}

// DeliveryFailed records a failed attempt: retried at next, or given up
// when next is zero.
func (db *DB) DeliveryFailed(ctx context.Context, id int64, status int, msg string, next time.Time) error {
	state := DeliveryPending
	if next.IsZero() {
		state = DeliveryFailed
	}
	return db.small.do(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?, next_try = ?, updated = ? WHERE id = ?`,
			state, status, msg, ms(next), ms(db.Now()), id)
		return wrapErr(err)
	})
}

// Deliveries lists deliveries for people: pending and failed ones, then the
// most recent delivered ones, up to limit in all.
func (db *DB) Deliveries(ctx context.Context, limit int) ([]*Delivery, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT d.id, d.activity_id, a.iri, ac.username, a.actor_id, d.inbox, d.host, d.state, d.attempts, d.next_try, d.last_status, d.last_error, d.created, d.updated
		FROM deliveries d JOIN activities a ON a.id = d.activity_id JOIN actors ac ON ac.id = a.actor_id
		ORDER BY CASE d.state WHEN 'pending' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END, d.updated DESC LIMIT ?`, limit)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d := &Delivery{}
		var next, created, updated int64
		if err := rows.Scan(&d.ID, &d.ActivityID, &d.Activity, &d.Actor, &d.ActorID, &d.Inbox, &d.Host, &d.State, &d.Attempts, &next, &d.LastStatus, &d.LastError, &created, &updated); err != nil {
			return nil, wrapErr(err)
		}
		d.NextTry, d.Created, d.Updated = fromMS(next), fromMS(created), fromMS(updated)
		out = append(out, d)
	}
	return out, wrapErr(rows.Err())
}

// Activity is a stored outgoing activity.
type Activity struct {
	ID      int64
	IRI     string
	ActorID int64
	Type    string
	Body    []byte
	Public  bool
	Created time.Time
}

// ActivityByIRI returns one of our activities, for dereferencing its id.
func (db *DB) ActivityByIRI(ctx context.Context, iri string) (*Activity, error) {
	a := &Activity{IRI: iri}
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT id, actor_id, type, body, public, created FROM activities WHERE iri = ?`, iri).
		Scan(&a.ID, &a.ActorID, &a.Type, &a.Body, &a.Public, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "not found"}
	}
	a.Created = fromMS(created)
	return a, wrapErr(err)
}

// OutboxPage returns an actor's public activities newest first: those with
// a row id below before (0: from the newest), at most limit.
func (db *DB) OutboxPage(ctx context.Context, actorID, before int64, limit int) ([]*Activity, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id, iri, type, body, created FROM activities WHERE actor_id = ? AND public = 1 AND id < ? ORDER BY id DESC LIMIT ?`,
		actorID, before, limit)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []*Activity
	for rows.Next() {
		a := &Activity{ActorID: actorID, Public: true}
		var created int64
		if err := rows.Scan(&a.ID, &a.IRI, &a.Type, &a.Body, &created); err != nil {
			return nil, wrapErr(err)
		}
		a.Created = fromMS(created)
		out = append(out, a)
	}
	return out, wrapErr(rows.Err())
}

// CountOutbox counts an actor's public activities.
func (db *DB) CountOutbox(ctx context.Context, actorID int64) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM activities WHERE actor_id = ? AND public = 1`, actorID).Scan(&n)
	return n, wrapErr(err)
}

// Object is a document we publish at its own id.
type Object struct {
	IRI     string
	ActorID int64
	Type    string
	Body    []byte
	Public  bool
	Created time.Time
	Updated time.Time
	Deleted time.Time
}

// PutObject stores or replaces an object and queues out with it.
func (db *DB) PutObject(ctx context.Context, o *Object, out ...*Outgoing) error {
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		if err := putObject(ctx, tx, o); err != nil {
			return err
		}
		return queue(ctx, tx, db.Now(), out)
	})
	if err == nil && len(out) > 0 {
		db.signalDeliveries()
	}
	return err
}

func putObject(ctx context.Context, tx *sql.Tx, o *Object) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO objects (iri, actor_id, type, body, public, created, updated, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (iri) DO UPDATE SET type = excluded.type, body = excluded.body, public = excluded.public, updated = excluded.updated, deleted = excluded.deleted`,
		o.IRI, o.ActorID, o.Type, o.Body, b2i(o.Public), ms(o.Created), ms(o.Updated), ms(o.Deleted))
	return wrapErr(err)
}

// ObjectByIRI returns one published object.
func (db *DB) ObjectByIRI(ctx context.Context, iri string) (*Object, error) {
	o := &Object{IRI: iri}
	var created, updated, deleted int64
	err := db.read.QueryRowContext(ctx, `SELECT actor_id, type, body, public, created, updated, deleted FROM objects WHERE iri = ?`, iri).
		Scan(&o.ActorID, &o.Type, &o.Body, &o.Public, &created, &updated, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "not found"}
	}
	o.Created, o.Updated, o.Deleted = fromMS(created), fromMS(updated), fromMS(deleted)
	return o, wrapErr(err)
}
