package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	"github.com/coopnet/coopnet/testrig"
)

const blockWait = 10 * time.Second

func postFollow(t *testing.T, p *testrig.Peer, n *testrig.Node, user string) int {
	t.Helper()
	s, _ := send(t, p.SignedRequest(n.Actors.InboxURL(user), followOf(p, n.ActorURL(user))))
	return s
}

// note is an activity of a, addressed to inboxes, as the outbox queues it.
func note(n *testrig.Node, a *storage.LocalActor, inboxes ...string) *storage.Outgoing {
	id := n.Outbox.NewID(a.Username, "activities")
	body, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "Note", "actor": n.ActorURL(a.Username), "content": "hello"})
	return &storage.Outgoing{IRI: id, ActorID: a.ID, Type: "Note", Body: body, Inboxes: inboxes}
}

// deliveryOf returns the delivery of activity iri to inbox, or nil.
func deliveryOf(t *testing.T, n *testrig.Node, iri, inbox string) *storage.Delivery {
	t.Helper()
	ds, err := n.DB.Deliveries(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Activity == iri && d.Inbox == inbox {
			return d
		}
	}
	return nil
}

// TestBlockDomain: a block removes the domain's follows (both ways), fails
// its pending deliveries, refuses its inbox POSTs with 403 before any key
// fetch, sends it nothing new and fetches nothing from it; other hosts
// are untouched, and unblocking lets it in again.
func TestBlockDomain(t *testing.T) {
	ctx := context.Background()
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	acoop := n.CreateActor("acoop", actors.Profile{})
	evil := testrig.NewPeer(t, clock, "evil")
	good := testrig.NewPeer(t, clock, "good")
	stranger := testrig.NewPeer(t, clock, "stranger")

	for _, p := range []*testrig.Peer{evil, good} {
		if s := postFollow(t, p, n, "acoop"); s != http.StatusAccepted {
			t.Fatalf("%s follows: %d", p.Username, s)
		}
		p.WaitFor("Accept", 1, blockWait)
	}
	remoteEvil, err := n.DB.RemoteActor(ctx, evil.ActorIRI)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Outbox.Follow(ctx, acoop, remoteEvil); err != nil {
		t.Fatal(err)
	}
	evil.WaitFor("Follow", 1, blockWait)
	// A delivery that evil refuses for now stays pending, to be retried.
	evil.Status.Store(http.StatusServiceUnavailable)
	queued := note(n, acoop, evil.Inbox)
	if err := n.DB.Queue(ctx, queued); err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, blockWait, "a failed attempt to evil", func() bool {
		d := deliveryOf(t, n, queued.IRI, evil.Inbox)
		return d != nil && d.Attempts > 0 && d.State == storage.DeliveryPending
	})
	evil.Status.Store(0)
	before := len(evil.Received(""))

	res, err := n.BlockDomain(ctx, evil.Host(), "spam")
	if err != nil {
		t.Fatal(err)
	}
	if res.FollowsRemoved != 2 || res.DeliveriesFailed != 1 {
		t.Errorf("block cleaned up %+v, want 2 follows and 1 delivery", res)
	}
	if d := deliveryOf(t, n, queued.IRI, evil.Inbox); d.State != storage.DeliveryFailed || d.LastError != "blocked" {
		t.Errorf("pending delivery to evil: %s %q", d.State, d.LastError)
	}
	for _, dir := range []string{storage.DirFollower, storage.DirFollowing} {
		fs, _ := n.DB.Follows(ctx, acoop.ID, dir, "", 0, 0)
		for _, f := range fs {
			if f.Remote == evil.ActorIRI {
				t.Errorf("follow with evil survived (%s)", dir)
			}
		}
	}
	if c, _ := n.DB.CountFollows(ctx, acoop.ID, storage.DirFollower, ""); c != 1 {
		t.Errorf("%d followers left, want good's", c)
	}

	stored := countStored(t, n)
	if s := postFollow(t, evil, n, "acoop"); s != http.StatusForbidden {
		t.Errorf("blocked host's POST: %d, want 403", s)
	}
	// A host blocked before it ever wrote: its key is never fetched.
	if _, err := n.BlockDomain(ctx, stranger.Host(), ""); err != nil {
		t.Fatal(err)
	}
	if s := postFollow(t, stranger, n, "acoop"); s != http.StatusForbidden {
		t.Errorf("stranger's POST: %d, want 403", s)
	}
	if gets := stranger.ActorGETSignatures(); len(gets) != 0 {
		t.Errorf("the blocked host's key was fetched %d times", len(gets))
	}
	if got := countStored(t, n); got != stored {
		t.Errorf("refused activities were stored: %d -> %d", stored, got)
	}
	if s := postFollow(t, good, n, "acoop"); s != http.StatusAccepted {
		t.Errorf("other host's POST: %d, want 202", s)
	}

	// Nothing new goes out to it, and nothing is fetched from it.
	fresh := note(n, acoop, evil.Inbox, good.Inbox)
	if err := n.DB.Queue(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, blockWait, "new delivery to evil failed as blocked", func() bool {
		d := deliveryOf(t, n, fresh.IRI, evil.Inbox)
		return d != nil && d.State == storage.DeliveryFailed && d.LastError == "blocked" && d.Attempts == 1
	})
	good.WaitFor("Note", 1, blockWait)
	if got := len(evil.Received("")); got != before {
		t.Errorf("evil received %d more activities after the block", got-before)
	}
	if _, err := n.Actors.Fetch(ctx, evil.ActorIRI); tender.ErrorCode(err) != tender.EForbidden {
		t.Errorf("fetch of a blocked actor: %v, want forbidden", err)
	}
	if _, err := n.Actors.Lookup(ctx, evil.Handle()); err == nil {
		t.Error("WebFinger lookup of a blocked host succeeded")
	}

	if err := n.UnblockDomain(ctx, evil.Host()); err != nil {
		t.Fatal(err)
	}
	if s := postFollow(t, evil, n, "acoop"); s != http.StatusAccepted {
		t.Errorf("after unblock: %d, want 202", s)
	}
}

// TestBlockHostMatching: a block without a port covers every port and
// every subdomain; the node's own host is never blocked.
func TestBlockHostMatching(t *testing.T) {
	ctx := context.Background()
	n := testrig.NewNode(t, nil)
	for _, h := range []string{"127.0.0.1", "evil.example"} {
		if _, err := n.BlockDomain(ctx, h, ""); err != nil {
			t.Fatal(err)
		}
	}
	for host, want := range map[string]bool{
		"127.0.0.1:1": true, "127.0.0.1:65000": true, "127.0.0.1": true,
		"evil.example": true, "a.evil.example:8443": true, "good.example": false,
		n.Actors.Host(): false,
	} {
		if got := n.Blocked(host); got != want {
			t.Errorf("Blocked(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestBlockMadeByAnotherProcess: the CLI writes the block to the database
// while serve runs; the running node picks it up within seconds.
func TestBlockMadeByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	evil := testrig.NewPeer(t, clock, "evil")
	if s := postFollow(t, evil, n, "acoop"); s != http.StatusAccepted {
		t.Fatal(s)
	}
	cli, err := storage.Open(ctx, n.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.BlockDomain(ctx, evil.Host(), "from the CLI"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	testrig.Eventually(t, blockWait, "block seen by the running node", func() bool {
		return postFollow(t, evil, n, "acoop") == http.StatusForbidden
	})
}

// TestAllowlist: with federation.allowlist set, only the hosts it names
// federate; everyone else is treated as blocked.
func TestAllowlist(t *testing.T) {
	ctx := context.Background()
	clock := testrig.NewClock()
	member := testrig.NewPeer(t, clock, "member")
	outsider := testrig.NewPeer(t, clock, "outsider")
	n := testrig.NewNode(t, clock, func(c *config.Config) { c.Federation.Allowlist = []string{member.Host()} })
	n.CreateActor("acoop", actors.Profile{})
	if s := postFollow(t, outsider, n, "acoop"); s != http.StatusForbidden {
		t.Errorf("outsider: %d, want 403", s)
	}
	if s := postFollow(t, member, n, "acoop"); s != http.StatusAccepted {
		t.Errorf("member: %d, want 202", s)
	}
	member.WaitFor("Accept", 1, blockWait)
	if _, err := n.Actors.Fetch(ctx, outsider.ActorIRI); tender.ErrorCode(err) != tender.EForbidden {
		t.Errorf("fetch of an outsider: %v, want forbidden", err)
	}
	if got := countStored(t, n); got != 1 {
		t.Errorf("%d stored, want the member's follow only", got)
	}
}
