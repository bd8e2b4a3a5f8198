-- Domain blocks made by the node's staff. host is lower-case, without a
-- scheme; it may carry a port (then only that port is blocked). The
-- AUTOINCREMENT id is never reused, so (count, max(id)) changes on every
-- block and unblock: serve notices a block made by the CLI cheaply.
CREATE TABLE blocks (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	host     TEXT NOT NULL UNIQUE,
	reason   TEXT NOT NULL DEFAULT '',
	created  INTEGER NOT NULL
);
