package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/coopnet/coopnet/tender"
)

// LocalActor is a co-op hosted on this node.
type LocalActor struct {
	ID             int64
	Username       string
	Name           string
	Summary        string
	Regions        []string
	Categories     []string
	Languages      []string
	ManualApproval bool
	Icon           string
	PrivateKeyPEM  string
	PublicKeyPEM   string
	Published      time.Time
	Updated        time.Time
	Deleted        time.Time
}

const actorCols = `id, username, name, summary, regions, categories, languages, manual_approval, icon, private_key_pem, public_key_pem, published, updated, deleted`

func scanActor(row interface{ Scan(...any) error }) (*LocalActor, error) {
	var a LocalActor
	var regions, cats, langs string
	var pub, upd, del int64
	if err := row.Scan(&a.ID, &a.Username, &a.Name, &a.Summary, &regions, &cats, &langs, &a.ManualApproval, &a.Icon, &a.PrivateKeyPEM, &a.PublicKeyPEM, &pub, &upd, &del); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(regions), &a.Regions)
	_ = json.Unmarshal([]byte(cats), &a.Categories)
	_ = json.Unmarshal([]byte(langs), &a.Languages)
	a.Published, a.Updated, a.Deleted = fromMS(pub), fromMS(upd), fromMS(del)
	return &a, nil
}

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// CreateLocalActor stores a new local actor. A username already taken,
// even by a deleted actor, is a conflict: its URL must keep answering 410.
func (db *DB) CreateLocalActor(ctx context.Context, a *LocalActor) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO actors (username, name, summary, regions, categories, languages, manual_approval, icon, private_key_pem, public_key_pem, published, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.Username, a.Name, a.Summary, jsonList(a.Regions), jsonList(a.Categories), jsonList(a.Languages), b2i(a.ManualApproval), a.Icon, a.PrivateKeyPEM, a.PublicKeyPEM, ms(a.Published), ms(a.Updated))
		if isUnique(err) {
			return &tender.Error{Code: tender.EConflict, Field: "username", Message: "username " + a.Username + " is taken"}
		}
		if err != nil {
			return wrapErr(err)
		}
		a.ID, _ = res.LastInsertId()
		return nil
	})
}

// LocalActor returns the actor with that username, deleted ones included
// (callers answer 410 for those).
func (db *DB) LocalActor(ctx context.Context, username string) (*LocalActor, error) {
	a, err := scanActor(db.read.QueryRowContext(ctx, `SELECT `+actorCols+` FROM actors WHERE username = ?`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "no actor " + username}
	}
	return a, wrapErr(err)
}

// LocalActors lists the live local actors by username.
func (db *DB) LocalActors(ctx context.Context) ([]*LocalActor, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+actorCols+` FROM actors WHERE deleted = 0 AND substr(username, 1, 1) <> '_' ORDER BY username`)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []*LocalActor
	for rows.Next() {
		a, err := scanActor(rows)
		if err != nil {
			return nil, wrapErr(err)
		}
		out = append(out, a)
	}
	return out, wrapErr(rows.Err())
}

// UpdateLocalActor saves the profile fields of a (not its keys) and queues
// out in the same transaction.
func (db *DB) UpdateLocalActor(ctx context.Context, a *LocalActor, out ...*Outgoing) error {
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE actors SET name = ?, summary = ?, regions = ?, categories = ?, languages = ?, manual_approval = ?, icon = ?, updated = ? WHERE id = ? AND deleted = 0`,
			a.Name, a.Summary, jsonList(a.Regions), jsonList(a.Categories), jsonList(a.Languages), b2i(a.ManualApproval), a.Icon, ms(a.Updated), a.ID)
		if err != nil {
			return wrapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &tender.Error{Code: tender.ENotFound, Message: "no actor " + a.Username}
		}
		return queue(ctx, tx, db.Now(), out)
	})
	if err == nil && len(out) > 0 {
		db.signalDeliveries()
	}
	return err
}

// DeleteLocalActor marks the actor deleted (its URL answers 410 from now
// on), drops its follow relations and queues out, all in one transaction.
// The keys are kept so that the queued Delete can still be signed.
func (db *DB) DeleteLocalActor(ctx context.Context, a *LocalActor, out ...*Outgoing) error {
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		if err := queue(ctx, tx, db.Now(), out); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE actors SET deleted = ? WHERE id = ?`, ms(db.Now()), a.ID); err != nil {
			return wrapErr(err)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM follows WHERE actor_id = ?`, a.ID)
		return wrapErr(err)
	})
	if err == nil && len(out) > 0 {
		db.signalDeliveries()
	}
	return err
}

// Usage holds the counts NodeInfo publishes.
type Usage struct {
	Users      int
	LocalPosts int
}

// Usage counts live local actors and their public activities.
func (db *DB) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := db.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM actors WHERE deleted = 0 AND substr(username, 1, 1) <> '_'), (SELECT count(*) FROM activities WHERE public = 1)`).Scan(&u.Users, &u.LocalPosts)
	return u, wrapErr(err)
}

// LocalActorByID returns the actor with that row id, deleted ones included.
func (db *DB) LocalActorByID(ctx context.Context, id int64) (*LocalActor, error) {
	a, err := scanActor(db.read.QueryRowContext(ctx, `SELECT `+actorCols+` FROM actors WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "no such actor"}
	}
	return a, wrapErr(err)
}
