package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/coopnet/coopnet/tender"
)

// Follow directions and states. They are stored as text and shown by the
// CLI, so they are part of its JSON contract.
const (
	DirFollower  = "in"  // the remote actor follows the local one
	DirFollowing = "out" // the local actor follows the remote one

	StatePending  = "pending"
	StateAccepted = "accepted"
)

// Follow is one follow relation between a local and a remote actor.
type Follow struct {
	ActorID    int64
	Remote     string // the remote actor's IRI
	Direction  string
	State      string
	ActivityID string // the Follow activity's id, for Accept/Reject/Undo
	Created    time.Time
	// Handle and inbox are filled in from the remote actor cache when known.
	Handle string
	Inbox  string
}

// PutFollow inserts the relation or, when it exists, updates its state and
// activity id, then queues out, all in one transaction. It reports whether
// the relation is new, so that a replayed Follow changes nothing.
func (db *DB) PutFollow(ctx context.Context, f *Follow, out ...*Outgoing) (created bool, err error) {
	err = db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO follows (actor_id, remote, direction, state, activity_id, created) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (actor_id, remote, direction) DO NOTHING`,
			f.ActorID, f.Remote, f.Direction, f.State, f.ActivityID, ms(f.Created))
		if err != nil {
			return wrapErr(err)
		}
		n, _ := res.RowsAffected()
		created = n == 1
		if !created {
			if _, err := tx.ExecContext(ctx, `UPDATE follows SET state = CASE WHEN state = 'accepted' THEN state ELSE ? END, activity_id = ? WHERE actor_id = ? AND remote = ? AND direction = ?`,
				f.State, f.ActivityID, f.ActorID, f.Remote, f.Direction); err != nil {
				return wrapErr(err)
			}
		}
		return queue(ctx, tx, db.Now(), out)
	})
	if err == nil && len(out) > 0 {
		db.signalDeliveries()
	}
	return created, err
}

// GetFollow returns one relation.
func (db *DB) GetFollow(ctx context.Context, actorID int64, remote, direction string) (*Follow, error) {
	f := Follow{ActorID: actorID, Remote: remote, Direction: direction}
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT state, activity_id, created FROM follows WHERE actor_id = ? AND remote = ? AND direction = ?`,
		actorID, remote, direction).Scan(&f.State, &f.ActivityID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "no such follow"}
	}
	f.Created = fromMS(created)
	return &f, wrapErr(err)
}

// SetFollowState moves a relation to state and queues out. It reports
// whether a relation changed.
func (db *DB) SetFollowState(ctx context.Context, actorID int64, remote, direction, state string, out ...*Outgoing) (bool, error) {
	var changed bool
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE follows SET state = ? WHERE actor_id = ? AND remote = ? AND direction = ? AND state <> ?`, state, actorID, remote, direction, state)
		if err != nil {
			return wrapErr(err)
		}
		n, _ := res.RowsAffected()
		changed = n > 0
		return queue(ctx, tx, db.Now(), out)
	})
	if err == nil && len(out) > 0 {
		db.signalDeliveries()
	}
	return changed, err
}

// DeleteFollow removes a relation and queues out. It reports whether there
// was one.
func (db *DB) DeleteFollow(ctx context.Context, actorID int64, remote, direction string, out ...*Outgoing) (bool, error) {
	var deleted bool
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM follows WHERE actor_id = ? AND remote = ? AND direction = ?`, actorID, remote, direction)
		if err != nil {
			return wrapErr(err)
		}
		n, _ := res.RowsAffected()
		deleted = n > 0
		return queue(ctx, tx, db.Now(), out)
	})
	if err == nil && len(out) > 0 {
		db.signalDeliveries()
	}
	return deleted, err
}

// Follows lists an actor's relations in one direction, oldest first, with
// state "" meaning any. offset/limit page through them (limit 0: all).
func (db *DB) Follows(ctx context.Context, actorID int64, direction, state string, offset, limit int) ([]*Follow, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.read.QueryContext(ctx, `SELECT f.remote, f.state, f.activity_id, f.created, coalesce(r.username, ''), coalesce(r.host, ''),
			coalesce(CASE WHEN r.shared_inbox <> '' THEN r.shared_inbox ELSE r.inbox END, '')
		FROM follows f LEFT JOIN remote_actors r ON r.iri = f.remote
		WHERE f.actor_id = ? AND f.direction = ? AND (? = '' OR f.state = ?)
		ORDER BY f.id LIMIT ? OFFSET ?`, actorID, direction, state, state, limit, offset)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []*Follow
	for rows.Next() {
		f := &Follow{ActorID: actorID, Direction: direction}
		var created int64
		var user, host string
		if err := rows.Scan(&f.Remote, &f.State, &f.ActivityID, &created, &user, &host, &f.Inbox); err != nil {
			return nil, wrapErr(err)
		}
		f.Created = fromMS(created)
		if user != "" {
			f.Handle = user + "@" + host
		}
		out = append(out, f)
	}
	return out, wrapErr(rows.Err())
}

// CountFollows counts an actor's relations in one direction and state.
func (db *DB) CountFollows(ctx context.Context, actorID int64, direction, state string) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM follows WHERE actor_id = ? AND direction = ? AND (? = '' OR state = ?)`,
		actorID, direction, state, state).Scan(&n)
	return n, wrapErr(err)
}

// FollowerInboxes returns the distinct inboxes that reach the accepted
// followers of an actor, shared inboxes where advertised, split by
// whether the follower understands coopnet's vocabulary.
func (db *DB) FollowerInboxes(ctx context.Context, actorID int64) (coopnet, plain []string, err error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT CASE WHEN r.shared_inbox <> '' THEN r.shared_inbox ELSE r.inbox END, r.coopnet
		FROM follows f JOIN remote_actors r INDEXED BY remote_actors_inboxes ON r.iri = f.remote
		WHERE f.actor_id = ? AND f.direction = 'in' AND f.state = 'accepted'`, actorID)
	if err != nil {
		return nil, nil, wrapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var inbox string
		var isCoop bool
		if err := rows.Scan(&inbox, &isCoop); err != nil {
			return nil, nil, wrapErr(err)
		}
		if isCoop {
			coopnet = append(coopnet, inbox)
		} else {
			plain = append(plain, inbox)
		}
	}
	return coopnet, plain, wrapErr(rows.Err())
}

// KnownInboxes returns every distinct inbox of remote actors that have any
// relation with the actor: where its Delete must go.
func (db *DB) KnownInboxes(ctx context.Context, actorID int64) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT CASE WHEN r.shared_inbox <> '' THEN r.shared_inbox ELSE r.inbox END
		FROM follows f JOIN remote_actors r INDEXED BY remote_actors_inboxes ON r.iri = f.remote WHERE f.actor_id = ?`, actorID)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, wrapErr(err)
		}
		out = append(out, s)
	}
	return out, wrapErr(rows.Err())
}
