package outbox_test

import (
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/testrig"
)

// TestHangingPeerDoesNotDelayOthers: a peer that never answers holds at
// most its own host's slots; the other hosts get their deliveries at once.
func TestHangingPeerDoesNotDelayOthers(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	slow := testrig.NewPeer(t, clock, "slow")
	fast := testrig.NewPeer(t, clock, "fast")
	followedBy(t, n, "acoop", slow)
	followedBy(t, n, "acoop", fast)

	slow.Hang.Store(true)
	for i := 0; i < 3; i++ {
		updateProfile(t, n, "acoop", "Renamed")
	}
	start := time.Now()
	fast.WaitFor("Update", 3, 3*time.Second)
	t.Logf("the fast peer got 3 Updates %v after they were queued, the slow peer hanging", time.Since(start))
	if got := len(slow.Received("Update")); got != 0 {
		t.Errorf("the hanging peer recorded %d Updates", got)
	}
}
