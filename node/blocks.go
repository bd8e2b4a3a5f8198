package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/storage"
)

// blockReload is how often a serving node looks for blocks made by another
// process (the CLI): one cheap query, and a reload only when it changed.
const blockReload = 2 * time.Second

// blockList is the node's in-memory view of who may federate: the domain
// blocks in the database and the configured allowlist. It is read on every
// inbox POST, fetch and delivery, so checks touch no database.
type blockList struct {
	db    *storage.DB
	self  string   // our own host: never blocked
	allow []string // normalised federation.allowlist; empty means open

	mu      sync.Mutex // serialises reloads
	version atomic.Int64
	loaded  atomic.Bool
	hosts   atomic.Pointer[[]string]
}

func newBlockList(db *storage.DB, self string, allowlist []string) (*blockList, error) {
	b := &blockList{db: db}
	var err error
	if b.self, err = storage.NormalizeHost(self); err != nil {
		return nil, fmt.Errorf("node: own host: %w", err)
	}
	for _, h := range allowlist {
		nh, err := storage.NormalizeHost(h)
		if err != nil {
			return nil, fmt.Errorf("node: federation.allowlist: %w", err)
		}
		b.allow = append(b.allow, nh)
	}
	b.hosts.Store(&[]string{})
	return b, nil
}

// reload reads the block list again when its version changed (or always,
// with force).
func (b *blockList) reload(ctx context.Context, force bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, err := b.db.BlocksVersion(ctx)
	if err != nil {
		return fmt.Errorf("node: reload blocks: %w", err)
	}
	if !force && b.loaded.Load() && v == b.version.Load() {
		return nil
	}
	list, err := b.db.Blocks(ctx)
	if err != nil {
		return fmt.Errorf("node: reload blocks: %w", err)
	}
	hosts := make([]string, 0, len(list))
	for _, bl := range list {
		hosts = append(hosts, bl.Host)
	}
	b.hosts.Store(&hosts)
	b.version.Store(v)
	b.loaded.Store(true)
	return nil
}

// blocked reports whether host (host[:port], as federation.Host gives it)
// may not federate: it is blocked (with its subdomains, on any port unless
// the block names one), or an allowlist is set and does not name it.
func (b *blockList) blocked(host string) bool {
	if host == "" {
		return false
	}
	if nh, err := storage.NormalizeHost(host); err == nil && nh == b.self {
		return false
	}
	for _, e := range *b.hosts.Load() {
		if storage.HostMatches(e, host, true) {
			return true
		}
	}
	if len(b.allow) == 0 {
		return false
	}
	for _, e := range b.allow {
		if storage.HostMatches(e, host, false) {
			return false
		}
	}
	return true
}

// watch reloads the list every blockReload until ctx ends, so that a
// block made with the CLI while serve runs takes effect within seconds.
func (b *blockList) watch(ctx context.Context, log func(msg string, args ...any)) {
	t := time.NewTicker(blockReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.reload(ctx, false); err != nil && ctx.Err() == nil {
				log("reload blocks", "err", err)
			}
		}
	}
}

// Blocked reports whether host (host[:port]) may not federate with this
// node: a domain block or, when federation.allowlist is set, absence from
// it. Inbox POSTs from it get 403, nothing is fetched from or delivered
// to it.
func (n *Node) Blocked(host string) bool { return n.blocks.blocked(host) }

// BlockDomain blocks host (see storage.BlockDomain for what it cleans up)
// and applies the block in this process at once.
func (n *Node) BlockDomain(ctx context.Context, host, reason string) (*storage.BlockResult, error) {
	res, err := n.DB.BlockDomain(ctx, host, reason)
	if err != nil {
		return nil, err
	}
	n.blocksChanged.Store(true)
	if err := n.blocks.reload(ctx, true); err != nil {
		return nil, err
	}
	n.Log.Info("domain blocked", "host", res.Block.Host, "follows_removed", res.FollowsRemoved, "deliveries_failed", res.DeliveriesFailed)
	return res, nil
}

// UnblockDomain lifts the block of host in the database and in this
// process.
func (n *Node) UnblockDomain(ctx context.Context, host string) error {
	if err := n.DB.UnblockDomain(ctx, host); err != nil {
		return err
	}
	n.blocksChanged.Store(true)
	return n.blocks.reload(ctx, true)
}

// ReloadBlocks rereads the block list now rather than at the next tick.
func (n *Node) ReloadBlocks(ctx context.Context) error { return n.blocks.reload(ctx, false) }
