package inbox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/testrig"
	_ "github.com/mattn/go-sqlite3"
)

// TestStorageFailureAnswers503: while the database cannot take writes
// (another process holds its write lock past the busy timeout, as a
// stuck backup or a full disk would), the inbox answers 503 and stores
// nothing; once storage is back the same activity is accepted.
func TestStorageFailureAnswers503(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 10 s busy timeout")
	}
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "alice")
	// Cache alice's key first: the failure under test is the write.
	if st, _ := p.Post(n.Actors.InboxURL("acoop"), follow(p, n.ActorURL("acoop"))); st != http.StatusAccepted {
		t.Fatalf("warm-up: %d", st)
	}
	p.WaitFor("Accept", 1, wait)

	ctx := context.Background()
	other, err := sql.Open("sqlite3", "file:"+n.DBPath+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	before, _, _ := n.DB.CountInbox(ctx)

	act := follow(p, n.ActorURL("acoop"))
	body, _ := json.Marshal(act)
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(p.SignedRequest(n.Actors.InboxURL("acoop"), body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status while storage is locked = %d, want 503", resp.StatusCode)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if after, _, _ := n.DB.CountInbox(ctx); after != before {
		t.Errorf("%d activities stored during the failure", after-before)
	}
	if _, err := n.DB.InboxActivity(ctx, act["id"].(string)); err == nil {
		t.Error("the refused activity was stored")
	}
	// The sender retries; storage is back.
	if st, body := p.Post(n.Actors.InboxURL("acoop"), act); st != http.StatusAccepted {
		t.Errorf("retry after recovery: %d %s", st, body)
	}
}
