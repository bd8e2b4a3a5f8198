package tender

import (
	"strings"
	"testing"
	"time"
)

func activeTender(t *testing.T) *Tender {
	t.Helper()
	x := validTender()
	if err := x.Publish(now.Add(-24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestPublish(t *testing.T) {
	x := validTender()
	wantErr(t, x.Publish(now), "", "")
	if x.Status != StatusActive || !x.Published.Equal(now) || !x.Updated.Equal(now) {
		t.Fatalf("after publish: %+v", x)
	}
	wantErr(t, x.Publish(now), EConflict, "")

	y := validTender()
	y.Title = ""
	wantErr(t, y.Publish(now), EInvalid, "title")
	if y.Status != "" {
		t.Error("invalid tender was published")
	}

	z := validTender()
	z.Status = StatusPlanning
	wantErr(t, z.Publish(now), "", "")
}

func TestAcceptingClosedSealed(t *testing.T) {
	x := activeTender(t)
	dl := x.Deadline
	tests := []struct {
		name                      string
		status                    Status
		at                        time.Time
		accepting, closed, sealed bool
	}{
		{"active before", StatusActive, dl.Add(-time.Second), true, false, true},
		{"active at deadline", StatusActive, dl, false, true, false},
		{"active after", StatusActive, dl.Add(time.Second), false, true, false},
		{"planning before", StatusPlanning, dl.Add(-time.Hour), false, false, true},
		{"cancelled before", StatusCancelled, dl.Add(-time.Hour), false, true, true},
		{"cancelled after", StatusCancelled, dl.Add(time.Hour), false, true, false},
		{"complete after", StatusComplete, dl.Add(time.Hour), false, true, false},
		{"unsuccessful after", StatusUnsuccessful, dl.Add(time.Hour), false, true, false},
	}
	for _, tt := range tests {
		x.Status = tt.status
		if got := x.AcceptingBids(tt.at); got != tt.accepting {
			t.Errorf("%s: AcceptingBids = %v", tt.name, got)
		}
		if got := x.Closed(tt.at); got != tt.closed {
			t.Errorf("%s: Closed = %v", tt.name, got)
		}
		if got := x.Sealed(tt.at); got != tt.sealed {
			t.Errorf("%s: Sealed = %v", tt.name, got)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestAmend(t *testing.T) {
	later := now.Add(30 * 24 * time.Hour)
	tests := []struct {
		name        string
		setup       func(*Tender)
		at          time.Time
		p           Amendment
		code, field string
		check       func(*testing.T, *Tender)
	}{
		{name: "title", p: Amendment{Title: ptr("Better title")}, check: func(t *testing.T, x *Tender) {
			if x.Title != "Better title" || !x.Updated.Equal(now) {
				t.Errorf("got %q updated %v", x.Title, x.Updated)
			}
		}},
		{name: "move deadline later", p: Amendment{Deadline: &later}, check: func(t *testing.T, x *Tender) {
			if !x.Deadline.Equal(later) {
				t.Error("deadline not moved")
			}
		}},
		{name: "move deadline earlier but future", p: Amendment{Deadline: ptr(now.Add(time.Hour))}},
		{name: "deadline into the past", p: Amendment{Deadline: ptr(now.Add(-time.Hour))}, code: EInvalid, field: "deadline"},
		{name: "empty title", p: Amendment{Title: ptr("")}, code: EInvalid, field: "title"},
		{name: "unknown category", p: Amendment{Categories: &[]string{"plumbing"}}, code: EInvalid, field: "category"},
		{name: "categories normalised", p: Amendment{Categories: &[]string{"Hosting", "hosting"}}, check: func(t *testing.T, x *Tender) {
			if strings.Join(x.Categories, ",") != "hosting" {
				t.Errorf("categories %v", x.Categories)
			}
		}},
		{name: "budget max below min", p: Amendment{Budget: &Budget{Min: 10, Max: 5, Currency: "EUR"}}, code: EInvalid, field: "budget-max"},
		{name: "budget currency change", p: Amendment{Budget: &Budget{Max: 5, Currency: "USD"}, Lots: &[]Lot{{ID: "https://a.example/tenders/1#lot-1", Title: "D"}, {ID: "https://a.example/tenders/1#lot-2", Title: "B"}}}, code: EInvalid, field: "currency"},
		{name: "budget raised", p: Amendment{Budget: &Budget{Max: 2000000, Currency: "eur"}}, check: func(t *testing.T, x *Tender) {
			if x.Budget.Max != 2000000 || x.Budget.Currency != "EUR" {
				t.Errorf("budget %+v", x.Budget)
			}
		}},
		{name: "remove budget", p: Amendment{RemoveBudget: true}, check: func(t *testing.T, x *Tender) {
			if x.Budget != nil {
				t.Error("budget kept")
			}
		}},
		{name: "set and remove budget", p: Amendment{RemoveBudget: true, Budget: &Budget{Max: 1, Currency: "EUR"}}, code: EInvalid, field: "budget-max"},
		{name: "delivery end before start", p: Amendment{DeliveryStart: ptr(later), DeliveryEnd: ptr(now.Add(time.Hour))}, code: EInvalid, field: "delivery-end"},
		{name: "unset delivery", setup: func(x *Tender) { x.DeliveryEnd = later }, p: Amendment{DeliveryEnd: &time.Time{}}, check: func(t *testing.T, x *Tender) {
			if !x.DeliveryEnd.IsZero() {
				t.Error("delivery end kept")
			}
		}},
		{name: "add lot", p: Amendment{Lots: &[]Lot{{ID: "https://a.example/tenders/1#lot-1", Title: "Design"}, {ID: "https://a.example/tenders/1#lot-2", Title: "Build"}, {Title: "Hosting"}}}, check: func(t *testing.T, x *Tender) {
			if len(x.Lots) != 3 {
				t.Errorf("lots %d", len(x.Lots))
			}
		}},
		{name: "remove lot", p: Amendment{Lots: &[]Lot{{ID: "https://a.example/tenders/1#lot-1", Title: "Design"}}}, code: EInvalid, field: "lot"},
		{name: "bad parent", p: Amendment{Parent: ptr("nope")}, code: EInvalid, field: "parent"},
		{name: "eligibility", p: Amendment{Eligibility: ptr("co-ops only")}},
		{name: "nothing", p: Amendment{}, code: EInvalid, field: ""},
		{name: "after deadline", at: now.Add(15 * 24 * time.Hour), p: Amendment{Deadline: ptr(now.Add(20 * 24 * time.Hour))}, code: EConflict},
		{name: "cancelled", setup: func(x *Tender) { x.Status = StatusCancelled }, p: Amendment{Title: ptr("x")}, code: EConflict},
		{name: "planning", setup: func(x *Tender) { x.Status = StatusPlanning }, p: Amendment{Title: ptr("x")}, code: EConflict},
		{name: "awarded", setup: func(x *Tender) { x.Awards = []Award{{Lot: x.Lots[0].ID}} }, p: Amendment{Title: ptr("x")}, code: EConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := activeTender(t)
			if tt.setup != nil {
				tt.setup(x)
			}
			before := *x.clone()
			at := tt.at
			if at.IsZero() {
				at = now
			}
			err := x.Amend(tt.p, at)
			if tt.code == "" {
				wantErr(t, err, "", "")
				if tt.check != nil {
					tt.check(t, x)
				}
				return
			}
			wantErr(t, err, tt.code, tt.field)
			if x.Title != before.Title || !x.Updated.Equal(before.Updated) || len(x.Lots) != len(before.Lots) ||
				(x.Budget == nil) != (before.Budget == nil) || x.Budget != nil && *x.Budget != *before.Budget {
				t.Error("failed amendment changed the tender")
			}
		})
	}
}

func TestAmendDoesNotAlias(t *testing.T) {
	x := activeTender(t)
	cats := []string{"hosting"}
	wantErr(t, x.Amend(Amendment{Categories: &cats}, now), "", "")
	cats[0] = "other"
	if x.Categories[0] != "hosting" {
		t.Error("tender aliases the amendment's slice")
	}
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name        string
		status      Status
		reason      string
		code, field string
	}{
		{"active", StatusActive, "budget withdrawn", "", ""},
		{"planning", StatusPlanning, "changed our mind", "", ""},
		{"no reason", StatusActive, "  ", EInvalid, "reason"},
		{"reason too long", StatusActive, strings.Repeat("x", MaxReason+1), EInvalid, "reason"},
		{"already cancelled", StatusCancelled, "again", EConflict, ""},
		{"complete", StatusComplete, "too late", EConflict, ""},
		{"unsuccessful", StatusUnsuccessful, "too late", EConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := activeTender(t)
			x.Status = tt.status
			err := x.Cancel(tt.reason, now)
			wantErr(t, err, tt.code, tt.field)
			if err == nil && (x.Status != StatusCancelled || x.CancelReason != strings.TrimSpace(tt.reason) || !x.Updated.Equal(now)) {
				t.Errorf("after cancel: %s %q", x.Status, x.CancelReason)
			}
			if err != nil && x.Status != tt.status {
				t.Error("failed cancel changed the status")
			}
		})
	}
}

func validBid(x *Tender) *Bid {
	return &Bid{
		ID:       "https://b.example/bids/1",
		Tender:   x.ID,
		Bidder:   "https://b.example/actors/coop-b",
		Amount:   900000,
		Currency: "EUR",
		Text:     "We can do it.",
	}
}

func TestCheckBid(t *testing.T) {
	tests := []struct {
		name        string
		tender      func(*Tender)
		bid         func(*Bid)
		at          time.Time
		code, field string
		msg         string
	}{
		{name: "valid"},
		{name: "valid on a lot", bid: func(b *Bid) { b.Lot = "https://a.example/tenders/1#lot-2" }},
		{name: "unknown lot", bid: func(b *Bid) { b.Lot = "https://a.example/tenders/1#lot-9" }, code: EInvalid, field: "lot"},
		{name: "zero amount", bid: func(b *Bid) { b.Amount = 0 }, code: EInvalid, field: "amount"},
		{name: "negative amount", bid: func(b *Bid) { b.Amount = -1 }, code: EInvalid, field: "amount"},
		{name: "no currency", bid: func(b *Bid) { b.Currency = "" }, code: EInvalid, field: "currency"},
		{name: "unknown currency", bid: func(b *Bid) { b.Currency = "EUX" }, code: EInvalid, field: "currency"},
		{name: "other currency", bid: func(b *Bid) { b.Currency = "USD" }, code: EInvalid, field: "currency"},
		{name: "any currency without budget", tender: func(x *Tender) {
			x.Budget = nil
			for i := range x.Lots {
				x.Lots[i].Budget = nil
			}
		}, bid: func(b *Bid) { b.Currency = "USD" }},
		{name: "lot budget currency without tender budget", tender: func(x *Tender) {
			x.Budget = nil
			x.Lots[0].Budget = &Budget{Max: 100, Currency: "CAD"}
		}, bid: func(b *Bid) { b.Lot = ""; b.Currency = "EUR" }, code: EInvalid, field: "currency"},
		{name: "lot budget currency matches", tender: func(x *Tender) {
			x.Budget = nil
			for i := range x.Lots {
				x.Lots[i].Budget = nil
			}
			x.Lots[0].Budget = &Budget{Max: 100, Currency: "CAD"}
		}, bid: func(b *Bid) { b.Lot = ""; b.Currency = "CAD" }},
		{name: "no text", bid: func(b *Bid) { b.Text = " " }, code: EInvalid, field: "text"},
		{name: "text too long", bid: func(b *Bid) { b.Text = strings.Repeat("x", MaxText+1) }, code: EInvalid, field: "text"},
		{name: "plan too long", bid: func(b *Bid) { b.DeliveryPlan = strings.Repeat("x", MaxText+1) }, code: EInvalid, field: "delivery-plan"},
		{name: "other tender", bid: func(b *Bid) { b.Tender = "https://a.example/tenders/2" }, code: EInvalid, field: "tender"},
		{name: "owner bids", bid: func(b *Bid) { b.Bidder = "https://a.example/actors/coop-a" }, code: EForbidden},
		{name: "deadline passed", at: now.Add(15 * 24 * time.Hour), code: EConflict, msg: "deadline"},
		{name: "at deadline", at: validTender().Deadline, code: EConflict, msg: "deadline"},
		{name: "cancelled", tender: func(x *Tender) { x.Status = StatusCancelled; x.CancelReason = "no funds" }, code: EConflict, msg: "cancelled: no funds"},
		{name: "complete", tender: func(x *Tender) { x.Status = StatusComplete }, code: EConflict, msg: "awarded"},
		{name: "planning", tender: func(x *Tender) { x.Status = StatusPlanning }, code: EConflict, msg: "not published"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := activeTender(t)
			if tt.tender != nil {
				tt.tender(x)
			}
			b := validBid(x)
			if tt.bid != nil {
				tt.bid(b)
			}
			at := tt.at
			if at.IsZero() {
				at = now
			}
			err := x.CheckBid(b, at)
			wantErr(t, err, tt.code, tt.field)
			if tt.msg != "" && !strings.Contains(ErrorMessage(err), tt.msg) {
				t.Errorf("message %q lacks %q", ErrorMessage(err), tt.msg)
			}
		})
	}
	wantErr(t, activeTender(t).CheckBid(nil, now), EInvalid, "bid")
}

func TestReceiveBid(t *testing.T) {
	x := activeTender(t)
	b := validBid(x)
	wantErr(t, x.ReceiveBid(b, now), "", "")
	if b.Status != BidReceived || !b.Received.Equal(now) {
		t.Errorf("on time: %s %v", b.Status, b.Received)
	}

	late := validBid(x)
	at := x.Deadline.Add(time.Minute)
	wantErr(t, x.ReceiveBid(late, at), EConflict, "")
	if late.Status != BidLate || !strings.Contains(late.Reason, "deadline") || !late.Received.Equal(at) {
		t.Errorf("late: %s %q", late.Status, late.Reason)
	}

	bad := validBid(x)
	bad.Amount = 0
	wantErr(t, x.ReceiveBid(bad, now), EInvalid, "amount")
	if bad.Status != "" || !bad.Received.IsZero() {
		t.Error("invalid bid was marked")
	}
}

func TestCheckQuestion(t *testing.T) {
	x := activeTender(t)
	q := &Question{Tender: x.ID, Author: "https://m.example/users/c", Text: "Is hosting included?"}
	wantErr(t, x.CheckQuestion(q, now), "", "")
	wantErr(t, x.CheckQuestion(&Question{Tender: x.ID, Text: " "}, now), EInvalid, "text")
	wantErr(t, x.CheckQuestion(&Question{Tender: x.ID, Text: strings.Repeat("x", MaxText+1)}, now), EInvalid, "text")
	wantErr(t, x.CheckQuestion(&Question{Tender: "https://other/", Text: "?"}, now), EInvalid, "tender")
	wantErr(t, x.CheckQuestion(q, x.Deadline), EConflict, "")
	wantErr(t, x.CheckQuestion(nil, now), EInvalid, "text")
}

func TestMarkUnsuccessful(t *testing.T) {
	after := validTender().Deadline.Add(time.Hour)
	tests := []struct {
		name  string
		setup func(*Tender)
		at    time.Time
		code  string
	}{
		{name: "after deadline", at: after},
		{name: "before deadline", at: now, code: EConflict},
		{name: "cancelled", setup: func(x *Tender) { x.Status = StatusCancelled }, at: after, code: EConflict},
		{name: "complete", setup: func(x *Tender) { x.Status = StatusComplete }, at: after, code: EConflict},
		{name: "partly awarded", setup: func(x *Tender) { x.Awards = []Award{{Lot: x.Lots[0].ID}} }, at: after, code: EConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := activeTender(t)
			if tt.setup != nil {
				tt.setup(x)
			}
			err := x.MarkUnsuccessful(tt.at)
			wantErr(t, err, tt.code, "")
			if err == nil && (x.Status != StatusUnsuccessful || !x.Updated.Equal(tt.at)) {
				t.Errorf("status %s", x.Status)
			}
		})
	}
}
