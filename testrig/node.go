package testrig

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
)

// Node is a full coopnet node on a loopback httptest server.
type Node struct {
	*node.Node
	URL    string
	Server *httptest.Server
	Clock  *Clock
	DBPath string

	t       testing.TB
	cfg     *config.Config
	handler atomic.Pointer[http.Handler] // swapped on restart; nil while stopped
	down    atomic.Bool
	mu      sync.Mutex
	stop    func()
}

// NodeOption changes a node's configuration before it starts.
type NodeOption func(*config.Config)

// Logger returns a logger that writes to the test log only when -v is set
// or COOPNET_TEST_LOG is set, so failures stay readable.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("COOPNET_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", t.Name())
}

// NewNode starts a node: its server first (unstarted, so it knows its own
// URL), then its database and keys, then workers. Everything is stopped
// at the end of the test.
func NewNode(t testing.TB, clock *Clock, opts ...NodeOption) *Node {
	t.Helper()
	if clock == nil {
		clock = NewClock()
	}
	n := &Node{t: t, Clock: clock}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(n.serveHTTP))
	srv.Start()
	n.Server = srv
	n.URL = srv.URL
	n.DBPath = filepath.Join(t.TempDir(), "coopnet.db")
	toml := fmt.Sprintf(`
[server]
listen = %q
base_url = %q
[storage]
path = %q
[federation]
allow_private_addresses = true
allow_insecure_http = true
fetch_timeout = "5s"
# Tests poll the queue more often than production, so flows with retries
# finish quickly; the retry policy itself is the production one.
[delivery]
poll = "50ms"
[log]
level = "debug"
`, srv.Listener.Addr().String(), srv.URL, n.DBPath)
	cfg, _, err := config.Parse([]byte(toml), nil)
	if err != nil {
		t.Fatalf("testrig config: %v", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	n.cfg = cfg
	n.start()
	t.Cleanup(func() {
		n.shutdown()
		srv.Close()
	})
	return n
}

func (n *Node) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if n.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	h := n.handler.Load()
	if h == nil {
		http.Error(w, "stopped", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func (n *Node) start() { n.startNode(true) }

func (n *Node) startNode(workers bool) {
	n.t.Helper()
	nd, err := node.New(context.Background(), n.cfg, node.Options{Now: n.Clock.Now, Log: Logger(n.t)})
	if err != nil {
		n.t.Fatalf("testrig: start node: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := func() {}
	if workers {
		wait = nd.StartWorkers(ctx)
	}
	n.mu.Lock()
	n.Node = nd
	n.stop = func() { cancel(); wait(); nd.Close() }
	n.mu.Unlock()
	h := nd.Handler()
	n.handler.Store(&h)
}

func (n *Node) shutdown() {
	n.mu.Lock()
	stop := n.stop
	n.stop = nil
	n.mu.Unlock()
	if stop != nil {
		n.handler.Store(nil)
		stop()
	}
}

// Restart stops the node (workers, database) and starts it again on the
// same URL and database file, as after a crash or an upgrade.
func (n *Node) Restart() {
	n.shutdown()
	n.start()
}

// RestartWithoutWorkers restarts the node with its HTTP side only:
// activities are accepted and stored but nothing applies or delivers
// them until the test calls the workers' methods itself (Inbox.
// ProcessPending), so it controls what one pass holds.
func (n *Node) RestartWithoutWorkers() {
	n.shutdown()
	n.startNode(false)
}

// Stop stops the node without restarting it; its URL answers 503.
func (n *Node) Stop() { n.shutdown() }

// Start starts a stopped node again.
func (n *Node) Start() { n.start() }

// SetDown makes the node's server answer every request with 503 (true)
// or serve normally again (false), without stopping its workers.
func (n *Node) SetDown(down bool) { n.down.Store(down) }

// Host is host:port of the node.
func (n *Node) Host() string {
	h, p, _ := net.SplitHostPort(n.Server.Listener.Addr().String())
	return net.JoinHostPort(h, p)
}

// CreateActor creates a local co-op.
func (n *Node) CreateActor(username string, p actors.Profile) *storage.LocalActor {
	n.t.Helper()
	a, err := n.Actors.Create(context.Background(), username, p)
	if err != nil {
		n.t.Fatalf("create actor %s: %v", username, err)
	}
	return a
}

// Actor loads a local actor.
func (n *Node) Actor(username string) *storage.LocalActor {
	n.t.Helper()
	a, err := n.Actors.Get(context.Background(), username)
	if err != nil {
		n.t.Fatalf("actor %s: %v", username, err)
	}
	return a
}

// Handle returns @user@host of a local actor.
func (n *Node) Handle(username string) string { return "@" + n.Actors.Handle(username) }

// ActorURL returns the id of a local actor.
func (n *Node) ActorURL(username string) string { return n.Actors.ActorURL(username) }

// Eventually polls cond every 20 ms until it is true or the timeout (in
// real time) passes, then fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
