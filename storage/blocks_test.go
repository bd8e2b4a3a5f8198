package storage_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

func TestNormalizeHost(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Evil.Example", "evil.example"},
		{" evil.example. ", "evil.example"},
		{"evil.example:8443", "evil.example:8443"},
		{"https://Evil.Example/users/x", "evil.example"},
		{"http://127.0.0.1:4000/inbox", "127.0.0.1:4000"},
		{"::1", "[::1]"},
		{"[::1]:80", "[::1]:80"},
	} {
		got, err := storage.NormalizeHost(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "a/b", "user@host", "host:0", "host:99999", "host:x", "https://", "a b"} {
		if got, err := storage.NormalizeHost(bad); tender.ErrorCode(err) != tender.EInvalid {
			t.Errorf("NormalizeHost(%q) = %q, %v; want invalid", bad, got, err)
		}
	}
}

func TestHostMatches(t *testing.T) {
	for _, c := range []struct {
		entry, host string
		subdomains  bool
		want        bool
	}{
		{"evil.example", "evil.example", true, true},
		{"evil.example", "EVIL.example:8443", true, true}, // any port
		{"evil.example", "a.b.evil.example", true, true},  // subdomain
		{"evil.example", "a.evil.example", false, false},  // allowlists are exact
		{"evil.example", "notevil.example", true, false},  // not a suffix match on labels
		{"evil.example", "evil.example.org", true, false}, //
		{"evil.example:8443", "evil.example:8443", true, true},
		{"evil.example:8443", "evil.example", true, false},
		{"evil.example:8443", "evil.example:443", true, false},
		{"127.0.0.1", "127.0.0.1:4000", true, true},
		{"127.0.0.1:4000", "127.0.0.1:4001", true, false},
		{"0.0.1", "127.0.0.1", true, false}, // IP literals have no subdomains
		{"[::1]", "[::1]:80", true, true},
		{"evil.example", "", true, false},
	} {
		if got := storage.HostMatches(c.entry, c.host, c.subdomains); got != c.want {
			t.Errorf("HostMatches(%q, %q, %v) = %v, want %v", c.entry, c.host, c.subdomains, got, c.want)
		}
	}
}

// TestBlockDomainCleansUp: a block removes follows both ways, fails
// pending deliveries and skips unapplied activities of that domain (any
// port, subdomains too), and touches nothing of other domains.
func TestBlockDomainCleansUp(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	a := newActor(t, db, "acoop")
	for _, f := range []*storage.Follow{
		{Remote: "https://evil.example/users/m", Direction: storage.DirFollower},
		{Remote: "https://evil.example:8443/users/n", Direction: storage.DirFollowing},
		{Remote: "https://sub.evil.example/users/o", Direction: storage.DirFollower},
		{Remote: "https://good.example/users/g", Direction: storage.DirFollower},
	} {
		f.ActorID, f.State, f.Created = a.ID, storage.StateAccepted, t0
		if _, err := db.PutFollow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Queue(ctx, &storage.Outgoing{IRI: "https://local.example/users/acoop/activities/1", ActorID: a.ID, Type: "Create", Body: []byte(`{}`),
		Inboxes: []string{"https://evil.example/inbox", "https://good.example/inbox"}}); err != nil {
		t.Fatal(err)
	}
	for _, it := range []*storage.InboxItem{
		{Activity: "https://evil.example/a/1", Actor: "https://evil.example/users/m", Type: "Follow", Body: []byte(`{}`), Received: t0},
		{Activity: "https://good.example/a/1", Actor: "https://good.example/users/g", Type: "Follow", Body: []byte(`{}`), Received: t0},
	} {
		if _, err := db.StoreInbox(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	v0, err := db.BlocksVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}

	res, err := db.BlockDomain(ctx, "Evil.Example", "spam")
	if err != nil {
		t.Fatal(err)
	}
	if res.FollowsRemoved != 3 || res.DeliveriesFailed != 1 || res.InboxSkipped != 1 {
		t.Errorf("BlockDomain = %+v, want 3 follows, 1 delivery, 1 inbox item", res)
	}
	if res.Block.Host != "evil.example" || res.Block.Reason != "spam" || !res.Block.Created.Equal(t0) {
		t.Errorf("block = %+v", res.Block)
	}
	for _, dir := range []string{storage.DirFollower, storage.DirFollowing} {
		fs, _ := db.Follows(ctx, a.ID, dir, "", 0, 0)
		for _, f := range fs {
			if f.Remote != "https://good.example/users/g" {
				t.Errorf("follow %s (%s) survived the block", f.Remote, dir)
			}
		}
	}
	ds, _ := db.Deliveries(ctx, 10)
	for _, d := range ds {
		switch d.Host {
		case "evil.example":
			if d.State != storage.DeliveryFailed || d.LastError != "blocked" {
				t.Errorf("delivery to evil.example is %s %q", d.State, d.LastError)
			}
		default:
			if d.State != storage.DeliveryPending {
				t.Errorf("delivery to %s is %s", d.Host, d.State)
			}
		}
	}
	if it, _ := db.InboxActivity(ctx, "https://evil.example/a/1"); !it.Processed || it.Error != "blocked" {
		t.Errorf("evil activity: processed %v, error %q", it.Processed, it.Error)
	}
	if it, _ := db.InboxActivity(ctx, "https://good.example/a/1"); it.Processed {
		t.Error("good activity marked processed")
	}

	v1, _ := db.BlocksVersion(ctx)
	if v1 == v0 {
		t.Error("BlocksVersion did not change on block")
	}
	// Blocking again updates the reason and keeps the date.
	db.Now = func() time.Time { return t0.Add(time.Hour) }
	if res, err := db.BlockDomain(ctx, "evil.example", "worse"); err != nil || !res.Block.Created.Equal(t0) {
		t.Errorf("re-block: %+v, %v", res, err)
	}
	if _, err := db.BlockDomain(ctx, "other.example:8443", ""); err != nil {
		t.Fatal(err)
	}
	bs, err := db.Blocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*storage.Block{{Host: "evil.example", Reason: "worse", Created: t0}, {Host: "other.example:8443", Created: t0.Add(time.Hour)}}
	if !reflect.DeepEqual(bs, want) {
		t.Errorf("Blocks = %+v", bs)
	}

	v2, _ := db.BlocksVersion(ctx)
	if err := db.UnblockDomain(ctx, "other.example:8443"); err != nil {
		t.Fatal(err)
	}
	v3, _ := db.BlocksVersion(ctx)
	if _, err := db.BlockDomain(ctx, "third.example", ""); err != nil {
		t.Fatal(err)
	}
	v4, _ := db.BlocksVersion(ctx)
	if v2 == v3 || v3 == v4 || v2 == v4 {
		t.Errorf("BlocksVersion did not change on every edit: %x %x %x", v2, v3, v4)
	}
	if err := db.UnblockDomain(ctx, "nothere.example"); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("unblock of an unblocked host: %v", err)
	}
	if _, err := db.BlockDomain(ctx, "not a host", ""); tender.ErrorCode(err) != tender.EInvalid {
		t.Errorf("block of a bad host: %v", err)
	}
}
