-- Local co-op actors. Keys are generated once and kept: peers cache them.
CREATE TABLE actors (
	id              INTEGER PRIMARY KEY,
	username        TEXT NOT NULL UNIQUE,
	name            TEXT NOT NULL,
	summary         TEXT NOT NULL DEFAULT '',
	regions         TEXT NOT NULL DEFAULT '[]',
	categories      TEXT NOT NULL DEFAULT '[]',
	languages       TEXT NOT NULL DEFAULT '[]',
	manual_approval INTEGER NOT NULL DEFAULT 0,
	icon            TEXT NOT NULL DEFAULT '',
	private_key_pem TEXT NOT NULL,
	public_key_pem  TEXT NOT NULL,
	published       INTEGER NOT NULL,
	updated         INTEGER NOT NULL,
	deleted         INTEGER NOT NULL DEFAULT 0
);

-- Remote actors we have fetched, with their keys.
CREATE TABLE remote_actors (
	iri            TEXT PRIMARY KEY,
	type           TEXT NOT NULL,
	username       TEXT NOT NULL DEFAULT '',
	host           TEXT NOT NULL,
	name           TEXT NOT NULL DEFAULT '',
	summary        TEXT NOT NULL DEFAULT '',
	url            TEXT NOT NULL DEFAULT '',
	inbox          TEXT NOT NULL,
	shared_inbox   TEXT NOT NULL DEFAULT '',
	followers      TEXT NOT NULL DEFAULT '',
	key_id         TEXT NOT NULL DEFAULT '',
	public_key_pem TEXT NOT NULL DEFAULT '',
	coopnet        INTEGER NOT NULL DEFAULT 0,
	raw            BLOB,
	fetched        INTEGER NOT NULL
);
CREATE INDEX remote_actors_key_id ON remote_actors(key_id);

-- Follow relations in both directions: direction 'in' means the remote
-- actor follows the local one, 'out' the local actor follows the remote.
CREATE TABLE follows (
	id          INTEGER PRIMARY KEY,
	actor_id    INTEGER NOT NULL REFERENCES actors(id),
	remote      TEXT NOT NULL,
	direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
	state       TEXT NOT NULL CHECK (state IN ('pending', 'accepted')),
	activity_id TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	UNIQUE (actor_id, remote, direction)
);
CREATE INDEX follows_remote ON follows(remote);

-- Every verified incoming activity, unique by id across all inboxes, stored
-- before the 202. Workers apply them; processed marks the work done.
CREATE TABLE inbox (
	seq        INTEGER PRIMARY KEY,
	activity   TEXT NOT NULL UNIQUE,
	actor      TEXT NOT NULL,
	type       TEXT NOT NULL,
	recipient  TEXT NOT NULL DEFAULT '',
	body       BLOB NOT NULL,
	received   INTEGER NOT NULL,
	processed  INTEGER NOT NULL DEFAULT 0,
	error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inbox_pending ON inbox(processed, seq);

-- Activities we send. public ones make up the actor's outbox collection.
CREATE TABLE activities (
	id        INTEGER PRIMARY KEY,
	iri       TEXT NOT NULL UNIQUE,
	actor_id  INTEGER NOT NULL REFERENCES actors(id),
	type      TEXT NOT NULL,
	body      BLOB NOT NULL,
	public    INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL
);
CREATE INDEX activities_outbox ON activities(actor_id, public, id);

-- One row per activity and distinct target inbox, written in the same
-- transaction as the activity.
CREATE TABLE deliveries (
	id          INTEGER PRIMARY KEY,
	activity_id INTEGER NOT NULL REFERENCES activities(id),
	inbox       TEXT NOT NULL,
	host        TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_try    INTEGER NOT NULL,
	last_status INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL,
	UNIQUE (activity_id, inbox)
);
CREATE INDEX deliveries_due ON deliveries(state, next_try);

-- Objects we publish that are dereferenceable at their ids (Notes that
-- mirror tenders, answers, ...). visibility is 'public' or 'private'.
CREATE TABLE objects (
	iri        TEXT PRIMARY KEY,
	actor_id   INTEGER NOT NULL REFERENCES actors(id),
	type       TEXT NOT NULL,
	body       BLOB NOT NULL,
	public     INTEGER NOT NULL DEFAULT 1,
	created    INTEGER NOT NULL,
	updated    INTEGER NOT NULL,
	deleted    INTEGER NOT NULL DEFAULT 0
);
