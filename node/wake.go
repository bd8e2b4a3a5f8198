package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Commands (coopnet tender publish, follow, block-domain...) and serve
// share the database, not memory. Without a word from the command, serve
// would find what it queued only at its next poll of the queue
// (delivery.poll). The wake socket is that word: a Unix socket next to the
// database on which serve listens. A command that queued deliveries or
// changed blocks connects and hangs up; serve then reads its queue and
// blocks at once. Nothing is read from the connection, so whoever may
// connect (mode 0600, in the database's directory) can at most make serve
// read its queue early.

// wakePath is the socket's path for a database file.
func wakePath(dbPath string) string { return dbPath + ".wake" }

// listenWake starts serving the wake socket until ctx ends, adding its
// goroutines to wg. Where the socket cannot be made (a path too long for
// a Unix socket, a file system without them) serve keeps to its poll.
func (n *Node) listenWake(ctx context.Context, wg *sync.WaitGroup) {
	path := wakePath(n.DB.Path())
	// A socket left by a serve that was killed: only ever remove a socket,
	// never a file someone put there.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		n.Log.Info("no wake socket: deliveries queued by commands wait for delivery.poll", "path", path, "err", err, "poll", n.Deliverer.Poll)
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		n.Log.Warn("wake socket: chmod", "path", path, "err", err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		l.Close() // also removes the socket file
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					return
				}
				// Out of descriptors, say: the poll still works; try again
				// shortly rather than spin.
				time.Sleep(100 * time.Millisecond)
				continue
			}
			c.Close()
			n.Deliverer.Wake()
			if err := n.blocks.reload(ctx, false); err != nil && ctx.Err() == nil {
				n.Log.Error("reload blocks", "err", err)
			}
		}
	}()
}

// wakeServe tells a serve running on the database at dbPath to look at its
// queue now. No serve running is the usual case for a command, not an
// error: what was queued is sent when serve starts.
func wakeServe(dbPath string, log *slog.Logger) {
	c, err := net.DialTimeout("unix", wakePath(dbPath), time.Second)
	if err != nil {
		log.Debug("no serve to wake", "err", err)
		return
	}
	c.Close()
}
