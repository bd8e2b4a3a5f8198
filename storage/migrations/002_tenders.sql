-- Tenders, local and remote. doc is the domain tender as JSON (the source
-- of truth); the other columns exist to filter and sort without decoding.
CREATE TABLE tenders (
	iri          TEXT PRIMARY KEY,
	owner        TEXT NOT NULL,
	actor_id     INTEGER REFERENCES actors(id), -- the local owner; NULL for remote tenders
	note_iri     TEXT NOT NULL DEFAULT '',      -- the Note that mirrors it for plain fediverse servers
	status       TEXT NOT NULL,
	deadline     INTEGER NOT NULL,
	closed_sent  INTEGER NOT NULL DEFAULT 0,    -- the deadline Update went out
	published    INTEGER NOT NULL,
	updated      INTEGER NOT NULL,
	doc          BLOB NOT NULL
);
CREATE INDEX tenders_owner ON tenders(owner, published);
CREATE INDEX tenders_local ON tenders(actor_id, published);
CREATE INDEX tenders_published ON tenders(published);
CREATE INDEX tenders_due ON tenders(closed_sent, status, deadline);
CREATE INDEX tenders_note ON tenders(note_iri);

-- One row per category, region and language of a tender (and its lots'
-- regions), lower-cased, so filters use an index.
-- published is copied here so a filtered list walks one tag's index in
-- date order and stops after a page, instead of sorting every match.
CREATE TABLE tender_tags (
	tender    TEXT NOT NULL REFERENCES tenders(iri) ON DELETE CASCADE,
	kind      TEXT NOT NULL CHECK (kind IN ('category', 'region', 'language')),
	value     TEXT NOT NULL,
	published INTEGER NOT NULL,
	PRIMARY KEY (kind, value, tender)
) WITHOUT ROWID;
CREATE INDEX tender_tags_by_date ON tender_tags(kind, value, published);
CREATE INDEX tender_tags_tender ON tender_tags(tender);

-- Bids: side 'sent' on the bidder's node, 'received' on the owner's.
CREATE TABLE bids (
	iri       TEXT NOT NULL,
	side      TEXT NOT NULL CHECK (side IN ('sent', 'received')),
	actor_id  INTEGER NOT NULL REFERENCES actors(id), -- the local bidder (sent) or owner (received)
	tender    TEXT NOT NULL,
	lot       TEXT NOT NULL DEFAULT '',
	bidder    TEXT NOT NULL,
	status    TEXT NOT NULL,
	activity  TEXT NOT NULL DEFAULT '', -- the Create that carried it (sent side)
	created   INTEGER NOT NULL,
	doc       BLOB NOT NULL,
	PRIMARY KEY (iri, side)
);
CREATE INDEX bids_tender ON bids(tender, side);
CREATE INDEX bids_activity ON bids(activity);

-- Clarification questions: side 'asked' on the asker's node, 'received' on
-- the owner's.
CREATE TABLE questions (
	iri       TEXT NOT NULL,
	side      TEXT NOT NULL CHECK (side IN ('asked', 'received')),
	actor_id  INTEGER NOT NULL REFERENCES actors(id),
	tender    TEXT NOT NULL,
	author    TEXT NOT NULL,
	text      TEXT NOT NULL,
	answer    TEXT NOT NULL DEFAULT '',
	asked     INTEGER NOT NULL,
	answered  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (iri, side)
);
CREATE INDEX questions_tender ON questions(tender);

-- Public answers, on every node that saw them.
CREATE TABLE answers (
	iri       TEXT PRIMARY KEY,
	tender    TEXT NOT NULL,
	question  TEXT NOT NULL,
	answer    TEXT NOT NULL,
	published INTEGER NOT NULL
);
CREATE INDEX answers_tender ON answers(tender, published);

-- What arrived for a local co-op, for `coopnet notifications`.
CREATE TABLE notifications (
	id        INTEGER PRIMARY KEY,
	actor_id  INTEGER NOT NULL REFERENCES actors(id),
	kind      TEXT NOT NULL,
	remote    TEXT NOT NULL DEFAULT '',
	object    TEXT NOT NULL DEFAULT '',
	summary   TEXT NOT NULL DEFAULT '',
	activity  TEXT NOT NULL DEFAULT '',
	created   INTEGER NOT NULL,
	UNIQUE (actor_id, kind, activity)
);
CREATE INDEX notifications_actor ON notifications(actor_id, id);
