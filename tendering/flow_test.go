package tendering_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	"github.com/coopnet/coopnet/testrig"
)

const wait = 10 * time.Second

// follows makes local actor user on n follow target (a handle) and waits
// for the Accept.
func follows(t *testing.T, n *testrig.Node, user, target string) {
	t.Helper()
	ctx := context.Background()
	r, err := n.Actors.Lookup(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Outbox.Follow(ctx, n.Actor(user), r); err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, wait, user+" follow accepted", func() bool {
		f, err := n.DB.GetFollow(ctx, n.Actor(user).ID, r.IRI, storage.DirFollowing)
		return err == nil && f.State == storage.StateAccepted
	})
}

func notifications(t *testing.T, n *testrig.Node, user, kind string) []*storage.Notification {
	t.Helper()
	ns, err := n.DB.Notifications(context.Background(), n.Actor(user).ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []*storage.Notification
	for _, x := range ns {
		if x.Kind == kind {
			out = append(out, x)
		}
	}
	return out
}

func sentBid(t *testing.T, n *testrig.Node, iri string) *tender.Bid {
	t.Helper()
	br, err := n.DB.GetBid(context.Background(), iri, storage.BidSent)
	if err != nil {
		t.Fatal(err)
	}
	return br.Bid
}

// TestTenderFlow drives the whole flow across three coopnet nodes and a
// plain fediverse peer: publish, follow, questions, sealed bids, amendment,
// deadline, award, and a late bid.
func TestTenderFlow(t *testing.T) {
	ctx := context.Background()
	clock := testrig.NewClock()
	A, B, C := testrig.NewNode(t, clock), testrig.NewNode(t, clock), testrig.NewNode(t, clock)
	a := A.CreateActor("acoop", actors.Profile{Name: "A Co-op"})
	bAct := B.CreateActor("bcoop", actors.Profile{})
	cAct := C.CreateActor("ccoop", actors.Profile{})
	peer := testrig.NewPeer(t, clock, "mastodonuser")

	follows(t, B, "bcoop", A.Handle("acoop"))
	follows(t, C, "ccoop", A.Handle("acoop"))
	peer.Post(A.Actors.InboxURL("acoop"), map[string]any{"@context": federation.ActivityStreamsContext, "id": peer.NewID(), "type": "Follow", "actor": peer.ActorIRI, "object": A.ActorURL("acoop")})
	peer.WaitFor("Accept", 1, wait)

	// A publishes a tender with two lots.
	deadline := clock.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	tn, err := A.Tendering.Publish(ctx, a, &tender.Tender{
		Title: "Provincial digital skills programme", Description: "Training and hosting for 40 libraries.",
		Categories: []string{"training", "hosting"}, Regions: []string{"Ontario"}, Languages: []string{"en", "fr"},
		Budget: &tender.Budget{Min: 1000000, Max: 5000000, Currency: "CAD"}, Deadline: deadline,
		Lots: []tender.Lot{{Title: "Training in Ottawa", Region: "Ottawa"}, {Title: "Hosting", Region: "Ontario"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	lot := tn.Lots[0].ID

	// B and C see it in their network view; the plain peer gets a Note.
	for _, n := range []*testrig.Node{B, C} {
		testrig.Eventually(t, wait, "tender reaches "+n.URL, func() bool {
			recs, err := n.DB.Tenders(ctx, storage.TenderQuery{Network: true, Now: clock.Now(), Filter: tender.Filter{Category: "training", Region: "ottawa"}})
			return err == nil && len(recs) == 1 && recs[0].Tender.ID == tn.ID && len(recs[0].Tender.Lots) == 2
		})
	}
	creates := peer.WaitFor("Create", 1, wait)
	note, _ := creates[0].Activity["object"].(map[string]any)
	content, _ := note["content"].(string)
	for _, want := range []string{"Provincial digital skills programme", "Ontario", "10000.00–50000.00 CAD", "Training in Ottawa", tn.ID} {
		if !strings.Contains(content, want) {
			t.Errorf("Note content lacks %q: %s", want, content)
		}
	}
	if len(peer.Received("Offer")) != 0 {
		t.Error("a plain server was sent the Offer")
	}
	noteID, _ := note["id"].(string)
	// The Note dereferences to itself.
	if got := getJSON(t, noteID, nil); got["id"] != noteID || got["type"] != "Note" {
		t.Errorf("GET note = %v", got)
	}

	// The peer's reply to the Note is a question on the tender.
	reply := map[string]any{"@context": federation.ActivityStreamsContext, "id": peer.NewID(), "type": "Create", "actor": peer.ActorIRI,
		"object": map[string]any{"id": peer.ActorIRI + "/statuses/1", "type": "Note", "attributedTo": peer.ActorIRI, "inReplyTo": noteID,
			"content": `<p><span class="h-card"><a href="` + A.ActorURL("acoop") + `">@acoop</a></span> Is Sudbury in scope?</p>`, "to": []string{A.ActorURL("acoop")}}}
	if st, body := peer.Post(A.Actors.SharedInboxURL(), reply); st != http.StatusAccepted {
		t.Fatalf("reply: %d %s", st, body)
	}
	testrig.Eventually(t, wait, "peer's question stored", func() bool {
		qs, _ := A.DB.Questions(ctx, tn.ID, storage.QuestionReceived)
		return len(qs) == 1 && qs[0].Question.Text == "Is Sudbury in scope?"
	})

	// B asks; A answers; C (who did not ask) sees the answer.
	q, err := B.Tendering.Ask(ctx, bAct, tn.ID, "Can lots be combined?")
	if err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, wait, "B's question reaches A", func() bool {
		_, err := A.DB.GetQuestion(ctx, q.ID, storage.QuestionReceived)
		return err == nil
	})
	if _, err := A.Tendering.Answer(ctx, a, q.ID, "Yes, bid on each lot."); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testrig.Node{B, C} {
		testrig.Eventually(t, wait, "answer reaches "+n.URL, func() bool {
			as, _ := n.DB.Answers(ctx, tn.ID)
			return len(as) == 1 && as[0].Question == "Can lots be combined?" && as[0].Answer == "Yes, bid on each lot."
		})
	}
	for _, c := range peer.Received("Create") {
		if strings.Contains(string(c.Body), q.Author) || strings.Contains(string(c.Body), "bto") {
			t.Errorf("the answer names the asker or leaks bto: %s", c.Body)
		}
	}

	// B and C bid on the same lot.
	bidB, err := B.Tendering.Submit(ctx, bAct, &tender.Bid{Tender: tn.ID, Lot: lot, Amount: 2000000, Currency: "CAD", Text: "We train in both languages."})
	if err != nil {
		t.Fatal(err)
	}
	bidC, err := C.Tendering.Submit(ctx, cAct, &tender.Bid{Tender: tn.ID, Lot: lot, Amount: 1800000, Currency: "CAD", Text: "Cheaper."})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		n  *testrig.Node
		id string
	}{{B, bidB.ID}, {C, bidC.ID}} {
		testrig.Eventually(t, wait, "bid delivered", func() bool { return sentBid(t, x.n, x.id).Status == tender.BidDelivered })
	}
	testrig.Eventually(t, wait, "A holds both bids", func() bool {
		bs, _ := A.DB.Bids(ctx, storage.BidQuery{Side: storage.BidReceived, Tender: tn.ID})
		return len(bs) == 2
	})
	if !tn.Sealed(clock.Now()) {
		t.Error("bids are not sealed before the deadline")
	}

	// The bid is served to its owner's signed GET only.
	signer := func(n *testrig.Node, user string) *federation.Signer {
		s, err := n.Actors.Signer(n.Actor(user))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := A.Actors.Client.Get(ctx, bidB.ID, signer(A, "acoop")); err != nil {
		t.Errorf("A cannot fetch B's bid: %v", err)
	}
	if _, err := C.Actors.Client.Get(ctx, bidB.ID, signer(C, "ccoop")); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("C fetching B's bid: %v, want 404", err)
	}
	peerSigner := peer.Signer()
	if _, err := C.Actors.Client.Get(ctx, bidB.ID, &peerSigner); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("the peer fetching B's bid: %v, want 404", err)
	}
	if st := status(t, bidB.ID); st != http.StatusNotFound {
		t.Errorf("unsigned GET of a bid: %d, want 404", st)
	}
	for _, r := range peer.Received("") {
		if strings.Contains(string(r.Body), bidB.ID) {
			t.Errorf("the peer received the bid id in %s", r.Activity["type"])
		}
	}
	outbox := getJSON(t, A.Actors.OutboxURL("acoop")+"?page=true", nil)
	if b, _ := json.Marshal(outbox); strings.Contains(string(b), "/bids/") {
		t.Error("a bid appears in the owner's outbox")
	}

	// A amends; both bidders are told.
	newTitle := "Provincial digital skills programme (amended)"
	if _, err := A.Tendering.Amend(ctx, a, tn.ID, tender.Amendment{Title: &newTitle}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		n    *testrig.Node
		user string
	}{{B, "bcoop"}, {C, "ccoop"}} {
		testrig.Eventually(t, wait, x.user+" told of the amendment", func() bool { return len(notifications(t, x.n, x.user, "amendment")) == 1 })
	}
	peer.WaitFor("Update", 1, wait)

	// The deadline passes: A closes the tender; a late bid is refused.
	clock.Advance(3 * time.Hour)
	testrig.Eventually(t, wait, "closing announced to B", func() bool {
		rec, _ := B.DB.Tender(ctx, tn.ID)
		return rec != nil && !rec.Tender.AcceptingBids(clock.Now())
	})
	if _, err := C.Tendering.Submit(ctx, cAct, &tender.Bid{Tender: tn.ID, Lot: lot, Amount: 1, Currency: "CAD", Text: "late"}); tender.ErrorCode(err) != tender.EConflict {
		t.Errorf("late bid from the CLI: %v, want a conflict", err)
	}
	// A peer that ignores the deadline gets a Reject that says why.
	late := map[string]any{"@context": federation.Context(), "id": peer.NewID(), "type": "Create", "actor": peer.ActorIRI,
		"object": map[string]any{"id": peer.ActorIRI + "/bids/late", "type": "Bid", "attributedTo": peer.ActorIRI, "inReplyTo": tn.ID,
			"amount": "10.00", "currency": "CAD", "content": "late bid", "to": []string{A.ActorURL("acoop")}}}
	if st, body := peer.Post(A.Actors.InboxURL("acoop"), late); st != http.StatusAccepted {
		t.Fatalf("late bid: %d %s", st, body)
	}
	rejects := peer.WaitFor("Reject", 1, wait)
	if s, _ := rejects[0].Activity["summary"].(string); !strings.Contains(s, "deadline") {
		t.Errorf("late bid Reject says %q", s)
	}

	// A awards B: B gets Accept, C gets Reject, the public tender shows it.
	if _, err := A.Tendering.Award(ctx, a, bidB.ID, "Bilingual trainers"); err != nil {
		t.Fatal(err)
	}
	testrig.Eventually(t, wait, "B accepted", func() bool { return sentBid(t, B, bidB.ID).Status == tender.BidAccepted })
	testrig.Eventually(t, wait, "C rejected", func() bool { return sentBid(t, C, bidC.ID).Status == tender.BidRejected })
	if len(notifications(t, B, "bcoop", "award")) != 1 || len(notifications(t, C, "ccoop", "rejection")) != 1 {
		t.Error("award/rejection notifications missing")
	}
	doc := getJSON(t, tn.ID, nil)
	awards, _ := doc["award"].([]any)
	if len(awards) != 1 {
		t.Fatalf("public tender award = %v", doc["award"])
	}
	aw := awards[0].(map[string]any)
	if aw["winner"] != B.ActorURL("bcoop") || aw["amount"] != "20000.00" || aw["lot"] != lot {
		t.Errorf("award notice = %v", aw)
	}
	testrig.Eventually(t, wait, "C sees the award notice", func() bool {
		rec, _ := C.DB.Tender(ctx, tn.ID)
		return rec != nil && len(rec.Tender.Awards) == 1
	})
	// The page shows it too.
	page := getPage(t, tn.ID)
	for _, want := range []string{"Award notice", "20000.00 CAD", "Can lots be combined?", `og:title`} {
		if !strings.Contains(page, want) {
			t.Errorf("tender page lacks %q", want)
		}
	}
}

func getJSON(t *testing.T, url string, _ any) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", federation.ContentTypeActivity)
	st, body := testrig.Do(t, req)
	if st != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, st, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func getPage(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/html")
	st, body := testrig.Do(t, req)
	if st != http.StatusOK {
		t.Fatalf("GET %s: %d", url, st)
	}
	return body
}

func status(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", federation.ContentTypeActivity)
	st, _ := testrig.Do(t, req)
	return st
}
