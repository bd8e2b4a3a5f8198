package outbox_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/outbox"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/testrig"
)

const wait = 10 * time.Second

func TestNextAttempt(t *testing.T) {
	giveUp := 72 * time.Hour
	// Walk a delivery that never succeeds through its whole life with the
	// worst-case jitter each way.
	for _, jitter := range []float64{0, 0.999} {
		age := time.Duration(0)
		attempts := 0
		for {
			attempts++
			d := outbox.NextAttempt(503, attempts, age, giveUp, jitter)
			if d == 0 {
				break
			}
			if attempts == 1 && d > 30*time.Second {
				t.Errorf("jitter %v: first retry after %v, want within 30s", jitter, d)
			}
			if age < 10*time.Minute && d > time.Minute {
				t.Errorf("jitter %v: gap of %v at age %v, want at most 60s in the first 10 minutes", jitter, d, age)
			}
			if d > 6*time.Hour {
				t.Errorf("gap of %v", d)
			}
			age += d
			if attempts > 10000 {
				t.Fatal("never gives up")
			}
		}
		if age < 48*time.Hour {
			t.Errorf("jitter %v: gave up after %v, want at least 2 days", jitter, age)
		}
		t.Logf("jitter %v: %d attempts over %v", jitter, attempts, age)
	}
	for _, c := range []struct {
		status int
		retry  bool
	}{{400, false}, {403, false}, {404, false}, {410, false}, {422, false}, {401, true}, {408, true}, {429, true}, {500, true}, {502, true}, {0, true}} {
		got := outbox.NextAttempt(c.status, 1, 0, giveUp, 0.5) > 0
		if got != c.retry {
			t.Errorf("status %d: retry = %v, want %v", c.status, got, c.retry)
		}
	}
}

// followedBy makes peer p an accepted follower of user on n.
func followedBy(t *testing.T, n *testrig.Node, user string, p *testrig.Peer) {
	t.Helper()
	status, body := p.Post(n.Actors.InboxURL(user), map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": p.NewID(), "type": "Follow", "actor": p.ActorIRI, "object": n.ActorURL(user),
	})
	if status != http.StatusAccepted {
		t.Fatalf("follow: %d %s", status, body)
	}
	p.WaitFor("Accept", 1, wait)
}

func updateProfile(t *testing.T, n *testrig.Node, user, name string) {
	t.Helper()
	a := n.Actor(user)
	a.Name = name
	if err := n.Outbox.UpdateActor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func deliveries(t *testing.T, n *testrig.Node) []*storage.Delivery {
	t.Helper()
	ds, err := n.DB.Deliveries(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestPeerDownThenBack(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "alice")
	followedBy(t, n, "acoop", p)

	p.Status.Store(http.StatusServiceUnavailable)
	updateProfile(t, n, "acoop", "Renamed")
	testrig.Eventually(t, wait, "a failed attempt", func() bool {
		for _, d := range deliveries(t, n) {
			if d.State == storage.DeliveryPending && d.Attempts > 0 && d.LastStatus == 503 {
				return true
			}
		}
		return false
	})
	// Hours pass (on the clock, not in the test); the peer comes back.
	clock.Advance(5 * time.Hour)
	p.Status.Store(0)
	clock.Advance(6 * time.Hour)
	got := p.WaitFor("Update", 1, wait)
	if obj, _ := got[0].Activity["object"].(map[string]any); obj["name"] != "Renamed" {
		t.Errorf("Update object = %v", got[0].Activity["object"])
	}
	time.Sleep(200 * time.Millisecond)
	if len(p.Received("Update")) != 1 {
		t.Errorf("Update received %d times", len(p.Received("Update")))
	}
}

func TestPermanentRefusalIsGivenUp(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "alice")
	followedBy(t, n, "acoop", p)
	p.Status.Store(http.StatusGone)
	updateProfile(t, n, "acoop", "Renamed")
	testrig.Eventually(t, wait, "delivery given up", func() bool {
		for _, d := range deliveries(t, n) {
			if d.State == storage.DeliveryFailed && d.LastStatus == http.StatusGone && d.Attempts == 1 {
				return true
			}
		}
		return false
	})
}

func TestRestartWithPendingDeliveries(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "alice")
	followedBy(t, n, "acoop", p)

	// Queue while the node's workers are stopped, as after a crash between
	// the commit and the first attempt.
	n.Stop()
	db, err := storage.Open(context.Background(), n.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	svc := actors.NewService(db, n.URL, nil, clock.Now, nil)
	ob := outbox.New(db, svc, clock.Now)
	a, err := svc.Get(context.Background(), "acoop")
	if err != nil {
		t.Fatal(err)
	}
	a.Name = "After restart"
	if err := ob.UpdateActor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	db.Close()

	n.Start()
	got := p.WaitFor("Update", 1, wait)
	if obj, _ := got[0].Activity["object"].(map[string]any); obj["name"] != "After restart" {
		t.Errorf("Update object = %v", got[0].Activity["object"])
	}
	// Restart again: what was delivered is not sent twice.
	n.Restart()
	time.Sleep(300 * time.Millisecond)
	if k := len(p.Received("Update")); k != 1 {
		t.Errorf("Update received %d times", k)
	}
}

func TestDeliveryQueuedByAnotherProcessGoesOut(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "alice")
	followedBy(t, n, "acoop", p)

	// A second handle on the same file stands for the CLI: the running
	// node learns of its delivery only by polling the queue.
	db, err := storage.Open(context.Background(), n.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := actors.NewService(db, n.URL, nil, clock.Now, nil)
	ob := outbox.New(db, svc, clock.Now)
	a, _ := svc.Get(context.Background(), "acoop")
	a.Name = "From the CLI"
	start := time.Now()
	if err := ob.UpdateActor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	p.WaitFor("Update", 1, 2*time.Second)
	t.Logf("delivered %v after queueing from another handle", time.Since(start))
}
