package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/coopnet/coopnet/tender"
)

// RemoteActor is a cached copy of an actor on another server.
type RemoteActor struct {
	IRI          string
	Type         string
	Username     string // preferredUsername
	Host         string // host[:port] of the IRI: the domain part of the handle
	Name         string
	Summary      string
	URL          string
	Inbox        string
	SharedInbox  string
	Followers    string
	KeyID        string
	PublicKeyPEM string
	Coopnet      bool // its document carries our namespace: it understands Offer
	Raw          []byte
	Fetched      time.Time
}

// Handle returns user@host, the form people type into a search box.
func (r *RemoteActor) Handle() string {
	if r.Username == "" {
		return r.IRI
	}
	return r.Username + "@" + r.Host
}

// DeliveryInbox is where activities for r go when nothing private is in
// them: its shared inbox when it advertises one.
func (r *RemoteActor) DeliveryInbox() string {
	if r.SharedInbox != "" {
		return r.SharedInbox
	}
	return r.Inbox
}

const remoteCols = `iri, type, username, host, name, summary, url, inbox, shared_inbox, followers, key_id, public_key_pem, coopnet, raw, fetched`

func scanRemote(row interface{ Scan(...any) error }) (*RemoteActor, error) {
	var r RemoteActor
	var fetched int64
	if err := row.Scan(&r.IRI, &r.Type, &r.Username, &r.Host, &r.Name, &r.Summary, &r.URL, &r.Inbox, &r.SharedInbox, &r.Followers, &r.KeyID, &r.PublicKeyPEM, &r.Coopnet, &r.Raw, &fetched); err != nil {
		return nil, err
	}
	r.Fetched = fromMS(fetched)
	return &r, nil
}

// PutRemoteActor inserts or replaces the cached copy of r.
func (db *DB) PutRemoteActor(ctx context.Context, r *RemoteActor) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO remote_actors (`+remoteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (iri) DO UPDATE SET type = excluded.type, username = excluded.username, host = excluded.host, name = excluded.name,
			summary = excluded.summary, url = excluded.url, inbox = excluded.inbox, shared_inbox = excluded.shared_inbox, followers = excluded.followers,
			key_id = excluded.key_id, public_key_pem = excluded.public_key_pem, coopnet = excluded.coopnet, raw = excluded.raw, fetched = excluded.fetched`,
			r.IRI, r.Type, r.Username, r.Host, r.Name, r.Summary, r.URL, r.Inbox, r.SharedInbox, r.Followers, r.KeyID, r.PublicKeyPEM, b2i(r.Coopnet), r.Raw, ms(r.Fetched))
		return wrapErr(err)
	})
}

// RemoteActor returns the cached actor with that IRI.
func (db *DB) RemoteActor(ctx context.Context, iri string) (*RemoteActor, error) {
	r, err := scanRemote(db.read.QueryRowContext(ctx, `SELECT `+remoteCols+` FROM remote_actors WHERE iri = ?`, iri))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "no cached actor " + iri}
	}
	return r, wrapErr(err)
}

// RemoteActorByKey returns the cached actor that published keyID.
func (db *DB) RemoteActorByKey(ctx context.Context, keyID string) (*RemoteActor, error) {
	r, err := scanRemote(db.read.QueryRowContext(ctx, `SELECT `+remoteCols+` FROM remote_actors WHERE key_id = ? LIMIT 1`, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &tender.Error{Code: tender.ENotFound, Message: "no cached key " + keyID}
	}
	return r, wrapErr(err)
}

// DeleteRemoteActor forgets a remote actor and every follow relation with
// it, as its server asked.
func (db *DB) DeleteRemoteActor(ctx context.Context, iri string) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM follows WHERE remote = ?`, iri); err != nil {
			return wrapErr(err)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM remote_actors WHERE iri = ?`, iri)
		return wrapErr(err)
	})
}
