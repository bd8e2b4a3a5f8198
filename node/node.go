// Package node assembles a coopnet node from its configuration: storage,
// actors, inbox, outbox, the HTTP router and the workers. It holds no
// package state, so tests start several nodes in one process.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/inbox"
	"github.com/coopnet/coopnet/outbox"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	"github.com/coopnet/coopnet/tendering"
)

// Version is the software version NodeInfo reports; the build may set it.
var Version = "0.1.0"

// Node is one running coopnet node.
type Node struct {
	Config    *config.Config
	DB        *storage.DB
	Actors    *actors.Service
	Outbox    *outbox.Outbox
	Inbox     *inbox.Inbox
	Deliverer *outbox.Deliverer
	Tendering *tendering.Service
	Client    *federation.Client
	Log       *slog.Logger
	Now       func() time.Time

	handler http.Handler
	proxies []*net.IPNet
	blocks  *blockList // domain blocks and allowlist, see blocks.go
	limits  *limits    // request rate limits, see limits.go

	serving       atomic.Bool // StartWorkers ran: this is serve, not a command
	blocksChanged atomic.Bool // this process blocked or unblocked a domain
}

// Options are what a caller may inject beyond the config: tests set the
// clock and the logger.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
}

// New opens the node's database and wires its parts. It does not start
// workers or listen: Run does.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Node, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	db, err := storage.Open(ctx, cfg.Storage.Path)
	if err != nil {
		return nil, err
	}
	db.Now = now
	blocks, err := newBlockList(db, cfg.Host(), cfg.Federation.Allowlist)
	if err == nil {
		err = blocks.reload(ctx, true)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	client := federation.NewClient(federation.ClientConfig{
		AllowPrivate:      cfg.Federation.AllowPrivateAddresses,
		AllowInsecureHTTP: cfg.Federation.AllowInsecureHTTP,
		Timeout:           cfg.Federation.FetchTimeout.Duration,
		UserAgent:         cfg.Federation.UserAgent + "/" + Version + " (+" + cfg.Server.BaseURL + ")",
		Now:               now,
		Blocked:           blocks.blocked,
	})
	acts := actors.NewService(db, cfg.Server.BaseURL, client, now, log)
	ob := outbox.New(db, acts, now)
	verifier := federation.NewVerifier(acts)
	verifier.Now = now
	n := &Node{
		Config: cfg, DB: db, Actors: acts, Outbox: ob, Client: client, Log: log, Now: now,
		Inbox: &inbox.Inbox{DB: db, Actors: acts, Outbox: ob, Verifier: verifier, Now: now, Log: log, Handlers: map[string]inbox.Handler{}},
		Deliverer: &outbox.Deliverer{
			Outbox: ob, Client: client, Log: log,
			Workers: cfg.Delivery.Workers, PerHost: cfg.Delivery.PerHost, GiveUpAfter: cfg.Delivery.GiveUpAfter.Duration,
			Poll:    cfg.Delivery.Poll.Duration,
			Blocked: blocks.blocked,
		},
		blocks: blocks,
		limits: newLimits(cfg.Limits),
	}
	n.Inbox.Blocked = func(_ context.Context, host string) bool { return blocks.blocked(host) }
	n.Tendering = tendering.New(db, acts, ob, now, log)
	for k, h := range n.Tendering.Handlers() {
		n.Inbox.Handlers[k] = h
	}
	for _, p := range cfg.Server.TrustedProxies {
		_, ipn, err := net.ParseCIDR(p)
		if err != nil {
			ip := net.ParseIP(p)
			if ip == nil {
				continue
			}
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			ipn = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
		}
		n.proxies = append(n.proxies, ipn)
	}
	if _, err := acts.Instance(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("instance actor: %w", err)
	}
	n.handler = n.routes()
	return n, nil
}

// EnsureConfigActors creates the actors the config declares and that do
// not exist yet; existing ones are left as they are (the CLI edits them).
func (n *Node) EnsureConfigActors(ctx context.Context) error {
	for _, ac := range n.Config.Actors {
		_, err := n.DB.LocalActor(ctx, ac.Username)
		if err == nil {
			continue
		}
		if tender.ErrorCode(err) != tender.ENotFound {
			return err
		}
		if _, err := n.Actors.Create(ctx, ac.Username, actors.Profile{
			Name: ac.Name, Summary: ac.Summary, Regions: ac.Regions, Categories: ac.Categories,
			Languages: ac.Languages, ManualApproval: ac.ManualApproval, Icon: ac.Icon,
		}); err != nil {
			return fmt.Errorf("config actor %s: %w", ac.Username, err)
		}
		n.Log.Info("created actor from config", "username", ac.Username, "handle", n.Actors.Handle(ac.Username))
	}
	return nil
}

// Handler is the node's HTTP handler.
func (n *Node) Handler() http.Handler { return n.handler }

// Close closes the database.
func (n *Node) Close() error {
	n.Client.CloseIdleConnections()
	if !n.serving.Load() && (n.DB.QueuedDeliveries() || n.blocksChanged.Load()) {
		// A command: tell a serve running on this database to look now.
		wakeServe(n.DB.Path(), n.Log)
	}
	return n.DB.Close()
}

// StartWorkers runs the inbox and delivery workers until ctx ends; the
// returned function waits for them to stop. It also listens on the wake
// socket, through which commands run meanwhile say they queued work.
func (n *Node) StartWorkers(ctx context.Context) (wait func()) {
	n.serving.Store(true)
	var wg sync.WaitGroup
	n.listenWake(ctx, &wg)
	wg.Add(4)
	go func() { defer wg.Done(); n.blocks.watch(ctx, n.Log.Error) }()
	go func() { defer wg.Done(); n.Inbox.Run(ctx) }()
	go func() { defer wg.Done(); n.Deliverer.Run(ctx) }()
	go func() { defer wg.Done(); n.Tendering.RunCloser(ctx, 500*time.Millisecond) }()
	return wg.Wait
}

// Serve serves HTTP on l and runs the workers until ctx is cancelled, then
// shuts down gracefully: the listener stops taking requests, requests in
// flight finish (their activities are stored), workers stop.
func (n *Node) Serve(ctx context.Context, l net.Listener) error {
	wctx, cancel := context.WithCancel(context.Background())
	wait := n.StartWorkers(wctx)
	defer func() { cancel(); wait() }()
	srv := &http.Server{
		Handler:           n.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       n.Config.Server.ReadTimeout.Duration,
		WriteTimeout:      n.Config.Server.WriteTimeout.Duration,
		IdleTimeout:       n.Config.Server.IdleTimeout.Duration,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), n.Config.Server.ShutdownTimeout.Duration)
	defer scancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
