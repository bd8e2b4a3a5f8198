package inbox_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/testrig"
)

const wait = 10 * time.Second

func follow(p *testrig.Peer, target string) map[string]any {
	return map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       p.NewID(),
		"type":     "Follow",
		"actor":    p.ActorIRI,
		"object":   target,
	}
}

func followers(t *testing.T, n *testrig.Node, user string) []*storage.Follow {
	t.Helper()
	fs, err := n.DB.Follows(context.Background(), n.Actor(user).ID, storage.DirFollower, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/activity+json")
	status, body := testrig.Do(t, req)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, status, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFollowIsAcceptedOnceEvenWhenReplayed(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "alice")
	p.RequireSignedGET.Store(true) // like GoToSocial: our key fetch must be signed

	f := follow(p, n.ActorURL("acoop"))
	start := time.Now()
	if status, body := p.Post(n.Actors.InboxURL("acoop"), f); status != http.StatusAccepted {
		t.Fatalf("follow: %d %s", status, body)
	}
	accepts := p.WaitFor("Accept", 1, wait)
	t.Logf("Accept arrived %v after the Follow was posted", time.Since(start))
	acc := accepts[0]
	if acc.Signer != n.ActorURL("acoop") {
		t.Errorf("Accept signed by %q", acc.Signer)
	}
	if obj, _ := acc.Activity["object"].(map[string]any); obj["id"] != f["id"] {
		t.Errorf("Accept object = %v, want the Follow %v", acc.Activity["object"], f["id"])
	}
	sig := acc.Header.Get("Signature")
	for _, h := range []string{"(request-target)", "host", "date", "digest"} {
		if !strings.Contains(sig, h) {
			t.Errorf("Accept signature does not cover %s: %s", h, sig)
		}
	}
	if acc.Path != "/users/alice/inbox" {
		t.Errorf("Accept went to %s, want the follower's personal inbox", acc.Path)
	}

	// Replay the same Follow byte for byte, and send a new one: one follower.
	if status, _ := p.Post(n.Actors.InboxURL("acoop"), f); status != http.StatusAccepted {
		t.Fatalf("replayed follow: %d", status)
	}
	if status, _ := p.Post(n.Actors.SharedInboxURL(), follow(p, n.ActorURL("acoop"))); status != http.StatusAccepted {
		t.Fatalf("second follow: %d", status)
	}
	p.WaitFor("Accept", 2, wait)
	testrig.Eventually(t, wait, "inbox drained", func() bool {
		stored, processed, _ := n.DB.CountInbox(context.Background())
		return stored == 2 && processed == 2
	})
	coll := getJSON(t, n.Actors.FollowersURL("acoop"))
	if coll["totalItems"] != float64(1) {
		t.Errorf("followers totalItems = %v, want 1", coll["totalItems"])
	}
	page := getJSON(t, coll["first"].(string))
	items, _ := page["orderedItems"].([]any)
	if len(items) != 1 || items[0] != p.ActorIRI {
		t.Errorf("followers page = %v", items)
	}
	for _, s := range p.ActorGETSignatures() {
		if s == "" {
			t.Errorf("an actor fetch was not signed")
		}
	}

	// Undo removes the follower.
	undo := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": p.NewID(), "type": "Undo", "actor": p.ActorIRI, "object": f}
	if status, _ := p.Post(n.Actors.InboxURL("acoop"), undo); status != http.StatusAccepted {
		t.Fatalf("undo: %d", status)
	}
	testrig.Eventually(t, wait, "follower removed", func() bool { return len(followers(t, n, "acoop")) == 0 })
}

func TestManualApproval(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	a := n.CreateActor("careful", actors.Profile{ManualApproval: true})
	p := testrig.NewPeer(t, clock, "bob")
	if status, _ := p.Post(n.Actors.InboxURL("careful"), follow(p, n.ActorURL("careful"))); status != http.StatusAccepted {
		t.Fatal(status)
	}
	testrig.Eventually(t, wait, "pending follow request", func() bool {
		fs := followers(t, n, "careful")
		return len(fs) == 1 && fs[0].State == storage.StatePending
	})
	if len(p.Received("Accept")) != 0 {
		t.Fatal("Accept sent before approval")
	}
	remote, err := n.DB.RemoteActor(context.Background(), p.ActorIRI)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Outbox.ApproveFollower(context.Background(), a, remote); err != nil {
		t.Fatal(err)
	}
	p.WaitFor("Accept", 1, wait)
	if fs := followers(t, n, "careful"); fs[0].State != storage.StateAccepted {
		t.Errorf("state = %s", fs[0].State)
	}
}

func TestTwoNodesFollowEachOtherByHandle(t *testing.T) {
	clock := testrig.NewClock()
	a := testrig.NewNode(t, clock)
	b := testrig.NewNode(t, clock)
	acoop := a.CreateActor("acoop", actors.Profile{})
	bcoop := b.CreateActor("bcoop", actors.Profile{})
	ctx := context.Background()

	remoteB, err := a.Actors.Lookup(ctx, b.Handle("bcoop"))
	if err != nil {
		t.Fatal(err)
	}
	if !remoteB.Coopnet {
		t.Error("a coopnet peer was not recognised as one")
	}
	if remoteB.SharedInbox != b.Actors.SharedInboxURL() {
		t.Errorf("shared inbox = %q", remoteB.SharedInbox)
	}
	if _, err := a.Outbox.Follow(ctx, acoop, remoteB); err != nil {
		t.Fatal(err)
	}
	remoteA, err := b.Actors.Lookup(ctx, a.Handle("acoop"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Outbox.Follow(ctx, bcoop, remoteA); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    *testrig.Node
		user string
	}{{a, "acoop"}, {b, "bcoop"}} {
		testrig.Eventually(t, wait, c.user+" following accepted", func() bool {
			fs, _ := c.n.DB.Follows(ctx, c.n.Actor(c.user).ID, storage.DirFollowing, storage.StateAccepted, 0, 0)
			return len(fs) == 1
		})
		testrig.Eventually(t, wait, c.user+" has a follower", func() bool {
			fs, _ := c.n.DB.Follows(ctx, c.n.Actor(c.user).ID, storage.DirFollower, storage.StateAccepted, 0, 0)
			return len(fs) == 1
		})
	}

	// Unfollow: B's follower list empties.
	if err := a.Outbox.Unfollow(ctx, acoop, remoteB); err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, wait, "unfollow applied", func() bool {
		n, _ := b.DB.CountFollows(ctx, bcoop.ID, storage.DirFollower, "")
		return n == 0
	})
}

// badRequest is one hostile or broken inbox POST.
type badRequest struct {
	name   string
	status int
	build  func(t *testing.T, n *testrig.Node, p, other *testrig.Peer) *http.Request
}

func TestInboxRefusesBadRequests(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "mallory")
	other := testrig.NewPeer(t, clock, "victim")
	inbox := n.Actors.InboxURL("acoop")
	body := func(p *testrig.Peer) []byte {
		b, _ := json.Marshal(follow(p, n.ActorURL("acoop")))
		return b
	}
	cases := []badRequest{
		{"unsigned", 401, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			r := p.SignedRequest(inbox, body(p))
			r.Header.Del("Signature")
			return r
		}},
		{"tampered body", 401, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			r := p.SignedRequest(inbox, body(p))
			tampered := strings.Replace(string(body(p)), "Follow", "Block", 1)
			r.Body = readCloser(tampered)
			r.ContentLength = int64(len(tampered))
			return r
		}},
		{"forged digest", 401, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			b := body(p)
			r := p.SignedRequest(inbox, b)
			evil := []byte(strings.Replace(string(b), "Follow", "Block", 1))
			sum := sha256.Sum256(evil)
			r.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
			r.Body, r.ContentLength = readCloser(string(evil)), int64(len(evil))
			return r
		}},
		{"digest not signed", 401, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			r := p.SignedRequest(inbox, body(p))
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), " digest", "", 1))
			return r
		}},
		{"stale date", 401, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			p.Clock.Advance(-2 * time.Hour)
			defer p.Clock.Advance(2 * time.Hour)
			return p.SignedRequest(inbox, body(p))
		}},
		{"future date", 401, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			p.Clock.Advance(2 * time.Hour)
			defer p.Clock.Advance(-2 * time.Hour)
			return p.SignedRequest(inbox, body(p))
		}},
		{"another actor's key", 401, func(t *testing.T, n *testrig.Node, p, other *testrig.Peer) *http.Request {
			// mallory signs an activity that claims to be victim's.
			return p.SignedRequest(inbox, body(other))
		}},
		{"malformed JSON", 400, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			return p.SignedRequest(inbox, []byte(`{"id": "x", "type": "Follow",`))
		}},
		{"missing id", 400, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			b, _ := json.Marshal(map[string]any{"type": "Follow", "actor": p.ActorIRI, "object": n.ActorURL("acoop")})
			return p.SignedRequest(inbox, b)
		}},
		{"foreign-origin id", 400, func(t *testing.T, n *testrig.Node, p, other *testrig.Peer) *http.Request {
			f := follow(p, n.ActorURL("acoop"))
			f["id"] = other.NewID()
			b, _ := json.Marshal(f)
			return p.SignedRequest(inbox, b)
		}},
		{"oversize body", 413, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			f := follow(p, n.ActorURL("acoop"))
			f["padding"] = strings.Repeat("x", 2<<20)
			b, _ := json.Marshal(f)
			return p.SignedRequest(inbox, b)
		}},
		{"unknown local actor", 404, func(t *testing.T, n *testrig.Node, p, _ *testrig.Peer) *http.Request {
			return p.SignedRequest(n.Actors.InboxURL("nobody"), body(p))
		}},
		{"embedded object from another host", 400, func(t *testing.T, n *testrig.Node, p, other *testrig.Peer) *http.Request {
			b, _ := json.Marshal(map[string]any{"id": p.NewID(), "type": "Create", "actor": p.ActorIRI,
				"object": map[string]any{"id": other.ActorIRI + "/notes/1", "type": "Note", "attributedTo": other.ActorIRI, "content": "forged"}})
			return p.SignedRequest(inbox, b)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := testrig.Do(t, c.build(t, n, p, other))
			if status != c.status {
				t.Errorf("status = %d (%s), want %d", status, strings.TrimSpace(body), c.status)
			}
			if !strings.Contains(body, "error") && status >= 400 {
				t.Errorf("no reason given: %q", body)
			}
		})
	}
	stored, _, err := n.DB.CountInbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("%d refused activities were stored", stored)
	}
	if fs := followers(t, n, "acoop"); len(fs) != 0 {
		t.Errorf("refused requests created followers: %v", fs)
	}
}

func TestClaimsOverOthersChangeNothing(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	a := n.CreateActor("acoop", actors.Profile{Name: "A Co-op"})
	alice := testrig.NewPeer(t, clock, "alice")
	mallory := testrig.NewPeer(t, clock, "mallory")
	f := follow(alice, n.ActorURL("acoop"))
	alice.Post(n.Actors.InboxURL("acoop"), f)
	alice.WaitFor("Accept", 1, wait)

	activities := []map[string]any{
		// Update of our actor, by someone else.
		{"@context": "https://www.w3.org/ns/activitystreams", "id": mallory.NewID(), "type": "Update", "actor": mallory.ActorIRI, "object": map[string]any{"id": n.ActorURL("acoop"), "type": "Organization", "name": "pwned"}},
		// Delete of our actor.
		{"@context": "https://www.w3.org/ns/activitystreams", "id": mallory.NewID(), "type": "Delete", "actor": mallory.ActorIRI, "object": n.ActorURL("acoop")},
		// Undo of alice's Follow, embedded, by mallory.
		{"@context": "https://www.w3.org/ns/activitystreams", "id": mallory.NewID(), "type": "Undo", "actor": mallory.ActorIRI, "object": f},
		// Undo of alice's Follow by id, by mallory.
		{"@context": "https://www.w3.org/ns/activitystreams", "id": mallory.NewID(), "type": "Undo", "actor": mallory.ActorIRI, "object": f["id"]},
		// Delete of alice, by mallory.
		{"@context": "https://www.w3.org/ns/activitystreams", "id": mallory.NewID(), "type": "Delete", "actor": mallory.ActorIRI, "object": alice.ActorIRI},
	}
	for _, act := range activities {
		status, body := mallory.Post(n.Actors.SharedInboxURL(), act)
		// Refused at the door (400/403) or stored and then not applied
		// (202): either way nothing may change.
		if status != http.StatusAccepted && status != http.StatusBadRequest && status != http.StatusForbidden {
			t.Fatalf("%s: %d %s", act["type"], status, body)
		}
	}
	testrig.Eventually(t, wait, "inbox drained", func() bool {
		stored, processed, _ := n.DB.CountInbox(context.Background())
		return processed == stored
	})
	got := n.Actor("acoop")
	if got.Name != a.Name || !got.Deleted.IsZero() {
		t.Errorf("actor changed: %+v", got)
	}
	if fs := followers(t, n, "acoop"); len(fs) != 1 || fs[0].Remote != alice.ActorIRI {
		t.Errorf("alice's follow was touched: %v", fs)
	}
}

func TestActorDeleteRemovesItsFollows(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	alice := testrig.NewPeer(t, clock, "alice")
	alice.Post(n.Actors.InboxURL("acoop"), follow(alice, n.ActorURL("acoop")))
	alice.WaitFor("Accept", 1, wait)
	alice.Post(n.Actors.SharedInboxURL(), map[string]any{"id": alice.ActorIRI + "#delete", "type": "Delete", "actor": alice.ActorIRI, "object": alice.ActorIRI})
	testrig.Eventually(t, wait, "follows removed", func() bool { return len(followers(t, n, "acoop")) == 0 })
}

type stringReadCloser struct{ *strings.Reader }

func (stringReadCloser) Close() error { return nil }

func readCloser(s string) stringReadCloser { return stringReadCloser{strings.NewReader(s)} }

// TestEachActorsActivitiesApplyInOrder sends, from several actors at once,
// Follow, Undo, Follow (and for some a last Undo). Workers apply different
// actors' activities side by side, but one actor's always in arrival
// order, so each ends following or not exactly as its last activity says.
func TestEachActorsActivitiesApplyInOrder(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	target := n.ActorURL("acoop")
	// Everything is stored first, so one pass holds every actor's
	// activities and the shards really run side by side.
	n.RestartWithoutWorkers()
	want := map[string]bool{}
	var peers []*testrig.Peer
	for i := range 8 {
		p := testrig.NewPeer(t, clock, "peer"+string(rune('a'+i)))
		peers = append(peers, p)
		want[p.ActorIRI] = i%2 == 0 // even peers end following
	}
	undo := func(p *testrig.Peer, f map[string]any) map[string]any {
		return map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": p.NewID(), "type": "Undo", "actor": p.ActorIRI, "object": f}
	}
	// Interleave the actors: round r posts every peer's r-th activity.
	seqs := make([][]map[string]any, len(peers))
	for i, p := range peers {
		f1, f2 := follow(p, target), follow(p, target)
		seqs[i] = []map[string]any{f1, undo(p, f1), f2}
		if !want[p.ActorIRI] {
			seqs[i] = append(seqs[i], undo(p, f2))
		}
	}
	total := 0
	for r := range 4 {
		for i, p := range peers {
			if r >= len(seqs[i]) {
				continue
			}
			if status, body := p.Post(n.Actors.SharedInboxURL(), seqs[i][r]); status != http.StatusAccepted {
				t.Fatalf("%s activity %d: %d %s", p.Username, r, status, body)
			}
			total++
		}
	}
	applied, err := n.Inbox.ProcessPending(context.Background(), 256)
	if err != nil || applied != total {
		t.Fatalf("one pass applied %d of %d: %v", applied, total, err)
	}
	got := map[string]bool{}
	for _, f := range followers(t, n, "acoop") {
		got[f.Remote] = true
	}
	for iri, following := range want {
		if got[iri] != following {
			t.Errorf("%s following = %v, want %v", iri, got[iri], following)
		}
	}
}
