package storage

import (
	"context"
	"database/sql"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coopnet/coopnet/tender"
)

// Block is a domain the node's staff refuse to federate with.
type Block struct {
	Host    string // lower-case host, with a port only when one port is meant
	Reason  string
	Created time.Time
}

// BlockResult says what making a block cleaned up, for the operator.
type BlockResult struct {
	Block            *Block
	FollowsRemoved   int // relations with the domain's actors, both directions
	DeliveriesFailed int // pending deliveries to it, now failed "blocked"
	InboxSkipped     int // its stored activities not yet applied, now never applied
}

// NormalizeHost turns what an operator typed (a host, host:port, or a URL)
// into the canonical form blocks and allowlists are stored and compared in:
// lower-case, no trailing dot, IPv6 in brackets, a port only when given.
func NormalizeHost(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", tender.Errorf(tender.EInvalid, "%q is not a host", s)
		}
		s = u.Host
	}
	if s == "" || strings.ContainsAny(s, "/@?# \t\\") {
		return "", tender.Errorf(tender.EInvalid, "%q is not a host", s)
	}
	host, port := splitHostPort(s)
	host = strings.TrimSuffix(host, ".")
	if host == "" || strings.ContainsAny(host, "[]") {
		return "", tender.Errorf(tender.EInvalid, "%q is not a host", s)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", tender.Errorf(tender.EInvalid, "%q has a bad port", s)
		}
	}
	return joinHostPort(host, port), nil
}

// splitHostPort splits host[:port], [v6][:port] or a bare IPv6 address;
// the host comes back without brackets.
func splitHostPort(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h, p
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return s, ""
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		return host
	}
	return host + ":" + port
}

// HostMatches reports whether host (host[:port] as in a URL) is covered by
// entry (a NormalizeHost result): the same host on any port, or on the
// entry's port when it names one, and with subdomains set also any
// subdomain of it (a block of evil.example covers a.evil.example, as on
// Mastodon; an allowlist entry admits exactly that host).
func HostMatches(entry, host string, subdomains bool) bool {
	eh, ep := splitHostPort(strings.ToLower(entry))
	hh, hp := splitHostPort(strings.ToLower(host))
	hh = strings.TrimSuffix(hh, ".")
	if eh == "" || hh == "" {
		return false
	}
	if ep != "" && ep != hp {
		return false
	}
	if hh == eh {
		return true
	}
	// IP literals have no subdomains: 0.0.1 must not cover 127.0.0.1.
	return subdomains && net.ParseIP(eh) == nil && net.ParseIP(hh) == nil && strings.HasSuffix(hh, "."+eh)
}

// hostOfIRI returns the host[:port] of an IRI, or "".
func hostOfIRI(iri string) string {
	u, err := url.Parse(iri)
	if err != nil {
		return ""
	}
	return u.Host
}

// BlockDomain blocks host (see NormalizeHost) and, in the same
// transaction, removes every follow between local actors and the domain's
// actors (both directions: we neither send to nor hear from it any more),
// fails its pending deliveries with "blocked" and marks its stored but
// unapplied activities done, so that nothing it sent before the block is
// acted on. Blocking a host again updates the reason.
func (db *DB) BlockDomain(ctx context.Context, host, reason string) (*BlockResult, error) {
	host, err := NormalizeHost(host)
	if err != nil {
		return nil, err
	}
	now := db.Now()
	res := &BlockResult{Block: &Block{Host: host, Reason: reason, Created: now.UTC()}}
	err = db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO blocks (host, reason, created) VALUES (?, ?, ?)
			ON CONFLICT (host) DO UPDATE SET reason = excluded.reason`, host, reason, ms(now)); err != nil {
			return wrapErr(err)
		}
		var created int64
		if err := tx.QueryRowContext(ctx, `SELECT created FROM blocks WHERE host = ?`, host).Scan(&created); err != nil {
			return wrapErr(err)
		}
		res.Block.Created = fromMS(created)
		var err error
		if res.FollowsRemoved, err = deleteMatching(ctx, tx, host, `SELECT id, remote FROM follows`, `DELETE FROM follows WHERE id = ?`); err != nil {
			return err
		}
		if res.DeliveriesFailed, err = deleteMatching(ctx, tx, host, `SELECT id, inbox FROM deliveries WHERE state = 'pending'`,
			`UPDATE deliveries SET state = 'failed', last_error = 'blocked', updated = ? WHERE id = ?`, ms(now)); err != nil {
			return err
		}
		res.InboxSkipped, err = deleteMatching(ctx, tx, host, `SELECT seq, actor FROM inbox WHERE processed = 0`,
			`UPDATE inbox SET processed = ?, error = 'blocked' WHERE seq = ?`, ms(now))
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// deleteMatching runs change (with args, then the row id) on every row of
// list (id, IRI) whose IRI's host the block entry covers, and counts them. The match
// is done here rather than in SQL because it needs URL parsing and the
// subdomain rule.
func deleteMatching(ctx context.Context, tx *sql.Tx, entry, list, change string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, list)
	if err != nil {
		return 0, wrapErr(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var iri string
		if err := rows.Scan(&id, &iri); err != nil {
			rows.Close()
			return 0, wrapErr(err)
		}
		if HostMatches(entry, hostOfIRI(iri), true) {
			ids = append(ids, id)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, wrapErr(err)
	}
	if err := rows.Err(); err != nil {
		return 0, wrapErr(err)
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, change, append(args[:len(args):len(args)], id)...); err != nil {
			return 0, wrapErr(err)
		}
	}
	return len(ids), nil
}

// UnblockDomain removes the block of host. What the block removed (follows,
// failed deliveries) stays removed: the remote side must follow again.
func (db *DB) UnblockDomain(ctx context.Context, host string) error {
	host, err := NormalizeHost(host)
	if err != nil {
		return err
	}
	return db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM blocks WHERE host = ?`, host)
		if err != nil {
			return wrapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tender.Errorf(tender.ENotFound, "%s is not blocked", host)
		}
		return nil
	})
}

// Blocks lists the blocked domains by host.
func (db *DB) Blocks(ctx context.Context) ([]*Block, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT host, reason, created FROM blocks ORDER BY host`)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	out := []*Block{}
	for rows.Next() {
		b := &Block{}
		var created int64
		if err := rows.Scan(&b.Host, &b.Reason, &created); err != nil {
			return nil, wrapErr(err)
		}
		b.Created = fromMS(created)
		out = append(out, b)
	}
	return out, wrapErr(rows.Err())
}

// BlocksVersion changes whenever a block is made or removed (ids are never
// reused), so a running node can poll it cheaply and reload the list only
// when another process (the CLI) changed it.
func (db *DB) BlocksVersion(ctx context.Context) (int64, error) {
	var count, maxID int64
	err := db.read.QueryRowContext(ctx, `SELECT count(*), coalesce(max(id), 0) FROM blocks`).Scan(&count, &maxID)
	// Both only grow together or shrink alone: maxID<<32|count is unique
	// per state for any realistic number of blocks.
	return maxID<<32 | count, wrapErr(err)
}
