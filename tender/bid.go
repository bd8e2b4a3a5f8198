package tender

import (
	"strings"
	"time"
)

// BidStatus is where a bid stands. The bidder's node and the owner's node
// each keep their own copy of a bid, so some statuses are only ever seen on
// one side: submitted and delivered on the bidder's, received and late on the
// owner's; withdrawn, accepted and rejected on both.
type BidStatus string

// The bid statuses.
const (
	// BidSubmitted: created on the bidder's node and queued for delivery.
	BidSubmitted BidStatus = "submitted"
	// BidDelivered: the owner's inbox answered 2xx, which is the bidder's
	// proof of submission.
	BidDelivered BidStatus = "delivered"
	// BidReceived: stored on the owner's node before the deadline.
	BidReceived BidStatus = "received"
	// BidWithdrawn: taken back by the bidder; never awarded.
	BidWithdrawn BidStatus = "withdrawn"
	// BidAccepted: the bid won (its tender or its lot).
	BidAccepted BidStatus = "accepted"
	// BidRejected: another bid won, or the owner turned it down.
	BidRejected BidStatus = "rejected"
	// BidLate: arrived on the owner's node when the tender no longer accepted
	// bids; kept so the refusal is on record, and answered with a Reject.
	BidLate BidStatus = "late"
)

// Valid reports whether s is a known bid status, so that storage and remote
// input cannot introduce a status the lifecycle does not handle.
func (s BidStatus) Valid() bool {
	switch s {
	case BidSubmitted, BidDelivered, BidReceived, BidWithdrawn, BidAccepted, BidRejected, BidLate:
		return true
	}
	return false
}

// Live reports whether a bid in status s can still be withdrawn, accepted or
// rejected: the decision about it has not been made yet.
func (s BidStatus) Live() bool {
	return s == BidSubmitted || s == BidDelivered || s == BidReceived
}

// Bid is a sealed offer on a tender, or on one of its lots.
type Bid struct {
	ID     string // IRI
	Tender string // tender IRI (inReplyTo)
	Lot    string // lot IRI, or "" for the whole tender
	Bidder string // actor IRI
	// Amount is the price in minor units of Currency.
	Amount       int64
	Currency     string
	Text         string
	DeliveryPlan string
	Status       BidStatus
	// Reason explains a rejection or a late refusal; it is what the bidder
	// is told.
	Reason    string
	Submitted time.Time // when the bidder made it
	Received  time.Time // when the owner's node stored it; zero on the bidder's side until known
	// Changed is when Status last changed, so that storage and pages can
	// show when a bid was withdrawn or decided without a history table.
	Changed time.Time
}

// MarkDelivered records the bidder-side proof of submission (the owner's
// inbox answered 2xx). Repeating it is harmless because deliveries retry.
func (b *Bid) MarkDelivered(now time.Time) error {
	switch b.Status {
	case BidSubmitted:
		b.setStatus(BidDelivered, now)
		return nil
	case BidDelivered:
		return nil
	}
	return Errorf(EConflict, "a %s bid cannot be marked delivered", b.Status)
}

// Withdraw takes the bid back. Only a bid not yet decided can be withdrawn:
// once accepted or rejected the decision stands, and a contract may follow.
func (b *Bid) Withdraw(now time.Time) error {
	if !b.Status.Live() {
		return Errorf(EConflict, "a %s bid cannot be withdrawn", b.Status)
	}
	b.setStatus(BidWithdrawn, now)
	return nil
}

// Accept marks the bid as the winner. AwardBid calls it on the owner's side;
// the bidder's node calls it when the owner's Accept arrives.
func (b *Bid) Accept(now time.Time) error {
	if !b.Status.Live() {
		return Errorf(EConflict, "a %s bid cannot be accepted", b.Status)
	}
	b.setStatus(BidAccepted, now)
	return nil
}

// Reject turns the bid down with a reason the bidder will read. AwardBid
// calls it for the losers; the bidder's node calls it when a Reject arrives.
func (b *Bid) Reject(reason string, now time.Time) error {
	if !b.Status.Live() {
		return Errorf(EConflict, "a %s bid cannot be rejected", b.Status)
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, MaxReason, false); err != nil {
		return err
	}
	b.Reason = reason
	b.setStatus(BidRejected, now)
	return nil
}

func (b *Bid) setStatus(s BidStatus, now time.Time) {
	b.Status = s
	b.Changed = now
}

// Question is a clarification question on a tender. Its answer is public
// and the asker is never named in it, so every bidder learns the same thing.
type Question struct {
	ID         string // IRI of the question Note
	Tender     string // tender IRI (inReplyTo)
	Author     string // actor IRI of the asker
	Text       string
	Answer     string
	Asked      time.Time
	AnsweredAt time.Time
}

// Answered reports whether the owner has answered, which decides whether the
// question is still waiting in the owner's queue.
func (q *Question) Answered() bool {
	return q.Answer != ""
}

// Reply records the owner's answer. An answer cannot be replaced: bidders may
// already have priced on it; publish a new answer or amend the tender.
func (q *Question) Reply(answer string, now time.Time) error {
	if q.Answered() {
		return Errorf(EConflict, "this question is already answered")
	}
	answer = strings.TrimSpace(answer)
	if err := checkText("answer", answer, MaxText, true); err != nil {
		return err
	}
	q.Answer = answer
	q.AnsweredAt = now
	return nil
}

// Award is the award notice for the whole tender (Lot "") or for one lot. It
// copies the winning price so the public notice does not depend on the bid,
// which stays private to the bidder and the owner.
type Award struct {
	Bid      string // IRI of the winning bid
	Lot      string // lot IRI, or "" for the whole tender
	Winner   string // actor IRI of the bidder
	Amount   int64  // minor units of Currency
	Currency string
	Reason   string
	At       time.Time
}
