-- Where a broadcast goes: every follower's shared (or personal) inbox.
-- remote_actors rows carry the actor's whole document (about 1 KB), so
-- looking 10,000 followers up in the table read 14 MB of pages; this
-- covering index answers the same lookups from a few hundred. Queries
-- name it (INDEXED BY): without statistics SQLite prefers the primary key.
CREATE INDEX remote_actors_inboxes ON remote_actors(iri, shared_inbox, inbox, coopnet);
