package node_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/testrig"
)

// TestCommandWakesServe: a command run while serve runs (here a second
// node on the same database, as the CLI opens it) queues a Follow and, on
// closing, wakes serve through the socket next to the database. serve's
// poll is set to an hour, so only the wake can get the Follow out in time.
func TestCommandWakesServe(t *testing.T) {
	ctx := context.Background()
	clock := testrig.NewClock()
	serve := testrig.NewNode(t, clock, func(c *config.Config) { c.Delivery.Poll.Duration = time.Hour })
	a := serve.CreateActor("acoop", actors.Profile{})
	peer := testrig.NewPeer(t, clock, "alice")
	if fi, err := os.Stat(serve.DBPath + ".wake"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("wake socket: %v %v", fi, err)
	}

	cmd, err := node.New(ctx, serve.Node.Config, node.Options{Now: clock.Now, Log: testrig.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := cmd.Actors.Lookup(ctx, peer.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Outbox.Follow(ctx, a, remote); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if got := peer.WaitFor("Follow", 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("serve did not send the command's Follow: got %d", len(got))
	}
}
