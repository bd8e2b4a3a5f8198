package tender

import (
	"strings"
	"testing"
	"time"
)

const (
	lot1 = "https://a.example/tenders/1#lot-1"
	lot2 = "https://a.example/tenders/1#lot-2"
)

// bids returns received bids: b0 whole tender, b1/b2 on lot 1, b3 on lot 2.
func bids(x *Tender) []*Bid {
	mk := func(id, lot, bidder string) *Bid {
		return &Bid{ID: id, Tender: x.ID, Lot: lot, Bidder: bidder, Amount: 1000, Currency: "EUR", Text: "t", Status: BidReceived}
	}
	return []*Bid{
		mk("https://b.example/bids/0", "", "https://b.example/actors/b"),
		mk("https://b.example/bids/1", lot1, "https://b.example/actors/b"),
		mk("https://c.example/bids/2", lot1, "https://c.example/actors/c"),
		mk("https://d.example/bids/3", lot2, "https://d.example/actors/d"),
	}
}

func statuses(bs []*Bid) string {
	var s []string
	for _, b := range bs {
		s = append(s, string(b.Status))
	}
	return strings.Join(s, ",")
}

func TestAwardBidErrors(t *testing.T) {
	after := validTender().Deadline.Add(time.Hour)
	tests := []struct {
		name        string
		setup       func(*Tender, []*Bid)
		win         int
		at          time.Time
		reason      string
		code, field string
	}{
		{name: "before deadline (sealed)", win: 1, at: now, code: EConflict},
		{name: "withdrawn", setup: func(_ *Tender, b []*Bid) { b[1].Status = BidWithdrawn }, win: 1, code: EConflict, field: "bid"},
		{name: "late", setup: func(_ *Tender, b []*Bid) { b[1].Status = BidLate }, win: 1, code: EConflict, field: "bid"},
		{name: "rejected", setup: func(_ *Tender, b []*Bid) { b[1].Status = BidRejected }, win: 1, code: EConflict, field: "bid"},
		{name: "accepted", setup: func(_ *Tender, b []*Bid) { b[1].Status = BidAccepted }, win: 1, code: EConflict, field: "bid"},
		{name: "unknown status", setup: func(_ *Tender, b []*Bid) { b[1].Status = "odd" }, win: 1, code: EConflict, field: "bid"},
		{name: "other tender", setup: func(_ *Tender, b []*Bid) { b[1].Tender = "https://a.example/tenders/2" }, win: 1, code: EInvalid, field: "bid"},
		{name: "unknown lot", setup: func(_ *Tender, b []*Bid) { b[1].Lot = "https://a.example/tenders/1#lot-9" }, win: 1, code: EInvalid, field: "lot"},
		{name: "lot already awarded", setup: func(x *Tender, _ []*Bid) { x.Awards = []Award{{Lot: lot1}} }, win: 2, code: EConflict, field: "lot"},
		{name: "whole tender after a lot", setup: func(x *Tender, _ []*Bid) { x.Awards = []Award{{Lot: lot1}} }, win: 0, code: EConflict, field: "lot"},
		{name: "lot after whole tender", setup: func(x *Tender, _ []*Bid) { x.Awards = []Award{{}} }, win: 3, code: EConflict, field: "lot"},
		{name: "cancelled", setup: func(x *Tender, _ []*Bid) { x.Status = StatusCancelled }, win: 1, code: EConflict},
		{name: "complete", setup: func(x *Tender, _ []*Bid) { x.Status = StatusComplete }, win: 1, code: EConflict},
		{name: "reason too long", win: 1, reason: strings.Repeat("x", MaxReason+1), code: EInvalid, field: "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := activeTender(t)
			bs := bids(x)
			if tt.setup != nil {
				tt.setup(x, bs)
			}
			before := statuses(bs)
			awards := len(x.Awards)
			at := tt.at
			if at.IsZero() {
				at = after
			}
			rej, err := x.AwardBid(bs[tt.win], bs, tt.reason, at)
			wantErr(t, err, tt.code, tt.field)
			if rej != nil || statuses(bs) != before || len(x.Awards) != awards {
				t.Error("failed award changed something")
			}
		})
	}
	x := activeTender(t)
	_, err := x.AwardBid(nil, nil, "", after)
	wantErr(t, err, EInvalid, "bid")
}

func TestAwardWithdrawnMessage(t *testing.T) {
	x := activeTender(t)
	bs := bids(x)
	bs[1].Status = BidWithdrawn
	_, err := x.AwardBid(bs[1], bs, "", x.Deadline)
	if got := ErrorMessage(err); got != "bid: award of a withdrawn bid" {
		t.Errorf("message %q", got)
	}
}

func TestAwardByLot(t *testing.T) {
	x := activeTender(t)
	bs := bids(x)
	at := x.Deadline.Add(time.Hour)

	rej, err := x.AwardBid(bs[1], bs, "best value", at)
	wantErr(t, err, "", "")
	// Winner accepted; the other lot-1 bid and the whole-tender bid rejected; lot 2 untouched.
	if got := statuses(bs); got != "rejected,accepted,rejected,received" {
		t.Fatalf("statuses %s", got)
	}
	if len(rej) != 2 || rej[0] != bs[0] || rej[1] != bs[2] {
		t.Fatalf("rejected %v", rej)
	}
	if bs[2].Reason != "another bid was awarded: best value" || !bs[2].Changed.Equal(at) {
		t.Errorf("loser reason %q", bs[2].Reason)
	}
	if x.Status != StatusActive || len(x.Awards) != 1 {
		t.Fatalf("status %s awards %d", x.Status, len(x.Awards))
	}
	a := x.Awards[0]
	if a.Bid != bs[1].ID || a.Lot != lot1 || a.Winner != bs[1].Bidder || a.Amount != 1000 || a.Currency != "EUR" || a.Reason != "best value" || !a.At.Equal(at) {
		t.Errorf("award %+v", a)
	}
	if !x.Awarded(lot1) || x.Awarded(lot2) || !x.Awarded("") {
		t.Error("Awarded wrong")
	}

	rej, err = x.AwardBid(bs[3], bs, "", at)
	wantErr(t, err, "", "")
	if len(rej) != 0 || x.Status != StatusComplete || len(x.Awards) != 2 || !x.Updated.Equal(at) {
		t.Fatalf("after second award: %s %d %v", x.Status, len(x.Awards), rej)
	}
}

func TestAwardWholeTender(t *testing.T) {
	x := activeTender(t)
	bs := bids(x)
	bs[2].Status = BidWithdrawn
	rej, err := x.AwardBid(bs[0], bs, "", x.Deadline)
	wantErr(t, err, "", "")
	if got := statuses(bs); got != "accepted,rejected,withdrawn,rejected" {
		t.Fatalf("statuses %s", got)
	}
	if len(rej) != 2 || x.Status != StatusComplete {
		t.Fatalf("rejected %d status %s", len(rej), x.Status)
	}
	if bs[1].Reason != "another bid was awarded" {
		t.Errorf("reason %q", bs[1].Reason)
	}
}

func TestAwardNoLots(t *testing.T) {
	x := activeTender(t)
	x.Lots = nil
	bs := bids(x)[:1]
	other := &Bid{ID: "https://c.example/bids/9", Tender: x.ID, Status: BidReceived}
	stranger := &Bid{ID: "https://c.example/bids/10", Tender: "https://z.example/t", Status: BidReceived}
	rej, err := x.AwardBid(bs[0], []*Bid{bs[0], other, stranger, nil}, "", x.Deadline)
	wantErr(t, err, "", "")
	if x.Status != StatusComplete || len(rej) != 1 || rej[0] != other || stranger.Status != BidReceived {
		t.Fatalf("status %s rejected %v stranger %s", x.Status, rej, stranger.Status)
	}
}

func TestAwardCompletesRejectsRest(t *testing.T) {
	// Whole-tender bids that arrive in the list only after lot awards are still rejected at completion.
	x := activeTender(t)
	bs := bids(x)
	at := x.Deadline
	if _, err := x.AwardBid(bs[1], bs[1:3], "", at); err != nil {
		t.Fatal(err)
	}
	rej, err := x.AwardBid(bs[3], bs, "", at)
	wantErr(t, err, "", "")
	if x.Status != StatusComplete || len(rej) != 1 || rej[0] != bs[0] {
		t.Fatalf("status %s rejected %v", x.Status, rej)
	}
}

func TestBidTransitions(t *testing.T) {
	all := []BidStatus{BidSubmitted, BidDelivered, BidReceived, BidWithdrawn, BidAccepted, BidRejected, BidLate}
	live := map[BidStatus]bool{BidSubmitted: true, BidDelivered: true, BidReceived: true}
	for _, s := range all {
		for name, op := range map[string]struct {
			do   func(*Bid) error
			want BidStatus
		}{
			"withdraw": {func(b *Bid) error { return b.Withdraw(now) }, BidWithdrawn},
			"accept":   {func(b *Bid) error { return b.Accept(now) }, BidAccepted},
			"reject":   {func(b *Bid) error { return b.Reject(" too dear ", now) }, BidRejected},
		} {
			b := &Bid{Status: s}
			err := op.do(b)
			if live[s] {
				wantErr(t, err, "", "")
				if b.Status != op.want || !b.Changed.Equal(now) {
					t.Errorf("%s from %s: %s", name, s, b.Status)
				}
				if name == "reject" && b.Reason != "too dear" {
					t.Errorf("reason %q", b.Reason)
				}
			} else {
				wantErr(t, err, EConflict, "")
				if b.Status != s {
					t.Errorf("%s from %s changed status", name, s)
				}
			}
		}
		b := &Bid{Status: s}
		err := b.MarkDelivered(now)
		switch s {
		case BidSubmitted, BidDelivered:
			wantErr(t, err, "", "")
			if b.Status != BidDelivered {
				t.Errorf("MarkDelivered from %s: %s", s, b.Status)
			}
		default:
			wantErr(t, err, EConflict, "")
		}
	}
	b := &Bid{Status: BidReceived}
	wantErr(t, b.Reject(strings.Repeat("x", MaxReason+1), now), EInvalid, "reason")
	if b.Status != BidReceived {
		t.Error("invalid reject changed status")
	}
}

func TestQuestionReply(t *testing.T) {
	q := &Question{Text: "Is hosting included?"}
	if q.Answered() {
		t.Fatal("answered before reply")
	}
	wantErr(t, q.Reply(" ", now), EInvalid, "answer")
	wantErr(t, q.Reply(strings.Repeat("x", MaxText+1), now), EInvalid, "answer")
	wantErr(t, q.Reply(" Yes, for a year. ", now), "", "")
	if !q.Answered() || q.Answer != "Yes, for a year." || !q.AnsweredAt.Equal(now) {
		t.Errorf("after reply %+v", q)
	}
	wantErr(t, q.Reply("No.", now), EConflict, "")
}
